//! Build script: vendors the pinned htmx files into `OUT_DIR` and makes cargo
//! rebuild when migrations or templates change.
//!
//! Why: we neither commit third-party JS nor run a JS build. `npm ci` fetches the
//! exact htmx.org version recorded in package-lock.json; this script checks each
//! file against a sha256 pinned here (so a tampered or different node_modules
//! can never end up in the binary) and copies it to `OUT_DIR`, where the crate
//! `include_bytes!`s it. The resulting binary needs no node_modules at run time.

use sha2::{Digest, Sha256};
use std::path::Path;

/// Exact htmx.org version; must match package.json / package-lock.json.
const HTMX_VERSION: &str = "4.0.1";

/// (path under node_modules/htmx.org/dist, file name in OUT_DIR, sha256).
/// Update together with package.json when upgrading htmx.
const ASSETS: &[(&str, &str, &str)] = &[
    ("htmx.min.js", "htmx.min.js", "a0abb04f2f45a1f89d1d4844023245537e5e6014c87b144553e0607b4cc32130"),
    ("ext/hx-sse.min.js", "hx-sse.min.js", "18ef2761356ec1fe0bb6d92612315b37517a7c1e9856b661c5ae81fef239d103"),
    ("ext/hx-upsert.min.js", "hx-upsert.min.js", "9e516c6608f765b568559a4caed3c3121eff2702fb7ce012f21775639d2699c3"),
];

fn main() {
    // embed_migrations! and askama do not track new files themselves.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=package-lock.json");
    println!("cargo:rustc-env=HTMX_VERSION={HTMX_VERSION}");

    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let out_dir = match std::env::var("OUT_DIR") {
        Ok(d) => d,
        Err(_) => panic!("OUT_DIR not set (build.rs must run under cargo)"),
    };
    let dist = Path::new(&manifest_dir).join("node_modules/htmx.org/dist");

    for (rel, out_name, want) in ASSETS {
        let src = dist.join(rel);
        // Also watch the file itself, so running `npm ci` after a failed build
        // (or replacing node_modules) re-runs this check.
        println!("cargo:rerun-if-changed={}", src.display());
        let bytes = match std::fs::read(&src) {
            Ok(b) => b,
            Err(e) => panic!("missing {} ({e}): run `npm ci --ignore-scripts` (or `make assets`)", src.display()),
        };
        let got = hex::encode(Sha256::digest(&bytes));
        if got != *want {
            panic!(
                "sha256 mismatch for {}: expected {want}, got {got}. \
                 node_modules does not hold htmx.org {HTMX_VERSION}: \
                 run `npm ci --ignore-scripts` (or `make assets`)",
                src.display()
            );
        }
        let dst = Path::new(&out_dir).join(out_name);
        if let Err(e) = std::fs::write(&dst, &bytes) {
            panic!("cannot write {}: {e}", dst.display());
        }
    }
}
