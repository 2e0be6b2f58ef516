//! The embedded static assets (CSS, our JavaScript, the pinned htmx files), each under a
//! content-hashed name made at build time (`build.rs`, `assets/fingerprint.rs`), so a
//! browser may keep it for a year and a changed file is a new URL. Templates name an
//! asset through [`url`] and never write a `/static/` path themselves.

#[cfg(test)]
mod fingerprint;

/// One way of sending an asset's bytes, with its own strong ETag.
#[derive(Debug)]
pub struct Encoded {
    pub bytes: &'static [u8],
    pub etag: &'static str,
}

#[derive(Debug)]
pub struct Asset {
    /// What templates call it: `app.css`.
    pub name: &'static str,
    /// The file name it is served under: `app.<hash>.css`.
    pub file: &'static str,
    /// `/static/` and the file name.
    pub url: &'static str,
    pub content_type: &'static str,
    pub identity: Encoded,
    /// Brotli and gzip, made at build time; absent where they would not be smaller.
    pub br: Option<Encoded>,
    pub gzip: Option<Encoded>,
}

/// Every asset, made by `build.rs`.
pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The URL of the asset templates call `name` (`app.css`). An unknown name gives a URL
/// that answers 404 (a unit test checks every name the templates use).
pub fn url(name: &str) -> &'static str {
    ASSETS.iter().find(|a| a.name == name).map_or("/static/unknown-asset", |a| a.url)
}

/// The asset served under `file` (`app.<hash>.css`); old and unknown names are `None`.
pub fn served_as(file: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.file == file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_gets_another_name_and_the_same_bytes_the_same_name() {
        let one = fingerprint::fingerprinted("app.css", b"body { color: red }");
        assert_eq!(one, fingerprint::fingerprinted("app.css", b"body { color: red }"));
        assert_ne!(one, fingerprint::fingerprinted("app.css", b"body { color: blue }"));
        assert!(one.starts_with("app.") && one.ends_with(".css"), "{one}");
        let hash = &one["app.".len()..one.len() - ".css".len()];
        assert_eq!(hash.len(), fingerprint::HASH_CHARS);
        assert_eq!(hash, &fingerprint::sha256_hex(b"body { color: red }")[..fingerprint::HASH_CHARS]);
        assert!(fingerprint::fingerprinted("htmx.min.js", b"x").starts_with("htmx.min."));
    }

    #[test]
    fn every_embedded_asset_is_named_after_its_bytes() {
        assert!(ASSETS.len() >= 8, "htmx's three files and ours");
        for asset in ASSETS {
            assert_eq!(asset.file, fingerprint::fingerprinted(asset.name, asset.identity.bytes), "{}", asset.name);
            assert_eq!(asset.url, format!("/static/{}", asset.file));
            assert_eq!(url(asset.name), asset.url);
            assert!(served_as(asset.file).is_some());
            assert!(served_as(asset.name).is_none(), "{}: the unhashed name is not served", asset.name);
        }
    }

    #[test]
    fn every_asset_the_templates_name_exists() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut named = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(dir)];
        while let Some(path) = stack.pop() {
            for entry in std::fs::read_dir(&path).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(!text.contains("\"/static/"), "{}: name assets through assets::url", path.display());
                for (i, _) in text.match_indices("assets::url(\"") {
                    let rest = &text[i + "assets::url(\"".len()..];
                    named.push(rest[..rest.find('"').unwrap()].to_string());
                }
            }
        }
        assert!(named.len() >= 7, "{named:?}");
        for name in named {
            assert_ne!(url(&name), "/static/unknown-asset", "templates name {name}, which is not in static/");
        }
    }
}
