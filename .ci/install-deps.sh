#!/usr/bin/env bash
# Installs the system packages Chaat needs on Debian 12, for one purpose at a time:
#
#   .ci/install-deps.sh run            build and run the app (`make run`, `build`, `demo`)
#   .ci/install-deps.sh test           run's, plus the browser-test tools (`make test`, `lint`)
#   .ci/install-deps.sh security-scan  run's, plus what sqlmap and the scan script use
#   .ci/install-deps.sh bench          run's, plus what the benchmark scripts use
#   .ci/install-deps.sh cluster        run's, plus HAProxy and PgBouncer (`make cluster-demo`)
#
# Idempotent: each need is checked first, so a machine that has everything does no apt
# work at all (no `apt-get update` either). Called by the Makefile's deps-* targets.
#
# Add `--print` to only print (one per line) the packages it would install now, or
# `--print-all` to print every package the mode needs whether installed or not (the
# split itself; tests/it/deps.rs checks it). Neither installs anything or needs root.
set -euo pipefail

usage() {
    echo "usage: $0 run|test|security-scan|bench|cluster [--print|--print-all]" >&2
    exit 2
}

mode= print=
for arg in "$@"; do
    case $arg in
        run | test | security-scan | bench | cluster) [ -z "$mode" ] || usage; mode=$arg ;;
        --print | --print-all) print=$arg ;;
        *) usage ;;
    esac
done
[ -n "$mode" ] || usage

all=()     # every package this mode needs
pkgs=()    # those of them missing here
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
have() { command -v "$1" >/dev/null 2>&1; }
# need CHECK PACKAGE...: the mode needs PACKAGE...; CHECK (a command line, evaluated)
# succeeds when what they provide is already there. --print-all runs no check.
need() {
    local check=$1
    shift
    all+=("$@")
    if [ "$print" != --print-all ] && ! eval "$check"; then
        pkgs+=("$@")
    fi
}

# What building and running needs; every mode builds and runs the app.
needs_run() {
    # PostgreSQL server binaries (initdb, pg_ctl, postgres; psql and pgbench come with
    # them) and the `postgres` user: the app and the tests run a private cluster as that
    # user when we are root.
    need "compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && id -u postgres >/dev/null 2>&1" postgresql
    # diesel's `postgres` feature links libpq (libpq.so + pg_config come from libpq-dev).
    need 'installed libpq-dev' libpq-dev
    # rustc needs a C linker; any machine with a Rust toolchain usually has one.
    need 'have cc' gcc libc6-dev
    # npm fetches the pinned htmx (see package.json, build.rs).
    need 'have node' nodejs
    need 'have npm' npm
}

# Issue 20's cluster on one machine (.ci/cluster.sh): a balancer and a pooler, both
# Debian's. The script waits for the instances with curl.
needs_cluster() {
    need '[ -x /usr/sbin/haproxy ]' haproxy
    need '[ -x /usr/sbin/pgbouncer ]' pgbouncer
    need 'have curl' curl
}

case $mode in
    run)
        needs_run
        ;;
    test)
        needs_run
        # Browser tests (Debian's chromium and its matching driver).
        need '[ -x /usr/bin/chromium ]' chromium
        need '[ -x /usr/bin/chromedriver ]' chromium-driver
        # vnu.jar (HTML validator used by the browser audit) needs a JRE.
        need 'have java' default-jre-headless
        # tests/it/cluster_balancer.rs starts the cluster of `make cluster-demo`.
        needs_cluster
        ;;
    security-scan)
        needs_run
        # sqlmap goes into a venv; the scan script drives the app with curl.
        need "python3 -c 'import ensurepip, venv' >/dev/null 2>&1" python3 python3-venv
        need 'have curl' curl
        ;;
    bench)
        needs_run
        # .ci/app.sh waits for /healthz and bench-explain.sh logs in with curl; the
        # summary line is computed by python3.
        need 'have curl' curl
        need 'have python3' python3
        # BENCH_VIA=balancer puts HAProxy in front of BENCH_INSTANCES instances.
        need '[ -x /usr/sbin/haproxy ]' haproxy
        ;;
    cluster)
        needs_run
        needs_cluster
        ;;
esac

case $print in
    --print-all)
        printf '%s\n' "${all[@]}"
        exit 0
        ;;
    --print)
        [ ${#pkgs[@]} -eq 0 ] || printf '%s\n' "${pkgs[@]}"
        exit 0
        ;;
esac

if ! have cargo && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    # Debian's own rustc is too old for our MSRV (see Cargo.toml rust-version).
    echo "install-deps: no cargo found: install a Rust toolchain (rustup) >= the rust-version in Cargo.toml" >&2
    exit 1
fi

if [ ${#pkgs[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif have sudo; then
    SUDO=(sudo)
else
    echo "install-deps: need root (or sudo) to install: ${pkgs[*]}" >&2
    exit 1
fi

echo "install-deps ($mode): installing ${pkgs[*]}"
if [[ " ${pkgs[*]} " == *" postgresql "* ]]; then
    # We never use Debian's system cluster (Chaat runs its own in ./var), so stop
    # the package from creating and starting one on port 5432.
    "${SUDO[@]}" mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' |
        "${SUDO[@]}" tee /etc/postgresql-common/createcluster.d/50-chaat-no-main-cluster.conf >/dev/null
fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
