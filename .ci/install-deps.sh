#!/usr/bin/env bash
# Installs the system packages Chaat needs to build, run and test, on Debian 12.
# Idempotent: each need is checked first, so a machine that has everything does
# no apt work at all (no `apt-get update` either). Called by `make deps`.
set -euo pipefail

pkgs=()
need() { pkgs+=("$@"); }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# PostgreSQL server binaries (initdb, pg_ctl, postgres) and the `postgres` user:
# the app and the tests run a private cluster as that user when we are root.
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || ! id -u postgres >/dev/null 2>&1; then
    need postgresql
fi
# diesel's `postgres` feature links libpq (libpq.so + pg_config come from libpq-dev).
installed libpq-dev || need libpq-dev
# rustc needs a C linker; any machine with a Rust toolchain usually has one.
command -v cc >/dev/null 2>&1 || need gcc libc6-dev
# npm fetches the pinned htmx (see package.json, build.rs).
command -v node >/dev/null 2>&1 || need nodejs
command -v npm >/dev/null 2>&1 || need npm
# Browser tests (Debian's chromium and its matching driver).
[ -x /usr/bin/chromium ] || need chromium
[ -x /usr/bin/chromedriver ] || need chromium-driver
# vnu.jar (HTML validator used by the tests) needs a JRE.
command -v java >/dev/null 2>&1 || need default-jre-headless
# `make security-scan` installs sqlmap into a venv and drives the app with curl.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need python3 python3-venv
command -v curl >/dev/null 2>&1 || need curl

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    # Debian's own rustc is too old for our MSRV (see Cargo.toml rust-version).
    echo "install-deps: no cargo found: install a Rust toolchain (rustup) >= the rust-version in Cargo.toml" >&2
    exit 1
fi

if [ ${#pkgs[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-deps: need root (or sudo) to install: ${pkgs[*]}" >&2
    exit 1
fi

echo "install-deps: installing ${pkgs[*]}"
if [[ " ${pkgs[*]} " == *" postgresql "* ]]; then
    # We never use Debian's system cluster (Chaat runs its own in ./var), so stop
    # the package from creating and starting one on port 5432.
    "${SUDO[@]}" mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' |
        "${SUDO[@]}" tee /etc/postgresql-common/createcluster.d/50-chaat-no-main-cluster.conf >/dev/null
fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
