#!/usr/bin/env bash
# `make bench`: builds release, starts Chaat (release) with its own private PostgreSQL
# cluster in a temporary directory, runs pgbench and the three load scenarios
# (chaat-load), prints the results and stops everything. App, database and load
# generator share this machine. Results (JSON lines) go to $BENCH_OUT.
#
# Knobs (environment): BENCH_PORT, DM_PAIRS, DM_SECONDS, PAGES_SECONDS,
# PAGES_ACCEPT_ENCODING (the `pages` requests' Accept-Encoding; default a browser's,
# "gzip, deflate, br, zstd", so the app compresses as for a browser; "none" sends none,
# as before this knob: no compression at all), FANOUT_STREAMS,
# FANOUT_CHATS, FANOUT_SECONDS, FANOUT_RATE, FILES_PHOTOS, BENCH_SCENARIOS ("start pgbench dm mixed pages fanout files bytes"),
# BYTES_CPU_REQUESTS, START_RUNS (starts of a new instance timed by `start`),
# MIXED_PAIRS, MIXED_SECONDS,
# BENCH_EXPLAIN=0 (skip EXPLAIN and statement counts), BENCH_NO_BUILD=1 (use the last build),
# BENCH_VIA=balancer with BENCH_INSTANCES=N (issue 20): HAProxy (.ci/cluster.sh, the
# configuration of `make cluster-demo`) on BENCH_PORT in front of N instances on the
# ports after it, all on the one private cluster; the load goes through HAProxy, and
# the app's CPU figures are those of the first instance only.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
port=${BENCH_PORT:-18437}
out=${BENCH_OUT:-$PWD/target/bench-results.jsonl}
scenarios=" ${BENCH_SCENARIOS:-start pgbench dm mixed pages fanout files bytes} "
bin=$CARGO_TARGET_DIR/release
via=${BENCH_VIA:-direct}
instances=${BENCH_INSTANCES:-1}
case $via in
    direct) app_port=$port ;;
    balancer) app_port=$((port + 1)); export CHAAT_TRUSTED_PROXIES=127.0.0.1 ;;
    *) echo "BENCH_VIA is direct or balancer" >&2; exit 2 ;;
esac

# The app (package chaat) and the load generator (package chaat-load, benches/load).
[ "${BENCH_NO_BUILD:-0}" = 1 ] || cargo build --release --locked --workspace --bins
# Every stream is a socket, in the app and in the load generator.
ulimit -n "$(ulimit -Hn)"
echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), open files $(ulimit -n)"

. .ci/app.sh
dir= app_pid=
stop() {
    if [ -n "$dir" ] && [ -d "$dir/haproxy" ]; then bash .ci/cluster.sh down "$dir"; fi
    stop_instances
    stop_app
    [ -z "$dir" ] || rm -rf "$dir"
}
trap stop EXIT
APP_LOG=${BENCH_LOG:-warn} start_app "$bin" "$app_port" bench
if [ "$via" = balancer ]; then
    addrs=("127.0.0.1:$app_port")
    for i in $(seq 2 "$instances"); do
        APP_LOG=${BENCH_LOG:-warn} start_instance "$bin" $((port + i))
        addrs+=("127.0.0.1:$((port + i))")
    done
    # Only the balancer's part of the cluster script: the instances share the private cluster.
    bash .ci/cluster.sh balancer-up "$dir" "$port" "${addrs[@]}" >/dev/null
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    echo "== HAProxy on 127.0.0.1:$port over ${addrs[*]}"
fi
sock=$dir/run    # the private cluster's Unix socket directory (see src/db/cluster.rs)
export DATABASE_URL="postgresql://app@/chaat?host=$sock"
echo "== app pid $app_pid on 127.0.0.1:$port, database socket $sock"
: >"$out"

postmaster=$(head -1 "$dir/pgdata/postmaster.pid")
load=("$bin/chaat-load" --base "http://127.0.0.1:$port" --server-pid "$app_pid" --db-pid "$postmaster")
status=0
run() {
    echo; echo "== $*"
    local log; log=$(mktemp)
    "${load[@]}" "$@" | tee "$log" || status=1
    tail -1 "$log" | grep '^{' >>"$out" || true
    rm -f "$log"
}

# First, while the app has served nothing but /healthz: its RSS, and a new instance's
# cold start against this (running) PostgreSQL, timed to its first 200 on /healthz, and
# its RSS idle and after one page. On a port of its own, past the balancer's instances.
[[ $scenarios == *" start "* ]] && run start --app "$bin/chaat" --port $((port + 90)) --runs "${START_RUNS:-5}"
if [[ $scenarios == *" pgbench "* ]]; then
    echo; echo "== pgbench: one-row message insert per transaction, 16 clients"
    tps=$(.ci/pgbench.sh "$sock" chaat "${PGBENCH_SECONDS:-5}" 16 | tee /dev/stderr | sed -n 's/^pgbench_tps=//p')
    echo "{\"scenario\":\"pgbench\",\"clients\":16,\"tps\":$tps}" >>"$out"
fi
[[ $scenarios == *" dm "* ]] && run dm --pairs "${DM_PAIRS:-50}" --seconds "${DM_SECONDS:-10}"
[[ $scenarios == *" mixed "* ]] && run mixed --pairs "${MIXED_PAIRS:-20}" --seconds "${MIXED_SECONDS:-10}"
[[ $scenarios == *" pages "* ]] && run pages --concurrency 64 --seconds "${PAGES_SECONDS:-10}" \
    --accept-encoding "${PAGES_ACCEPT_ENCODING:-gzip, deflate, br, zstd}"
[[ $scenarios == *" fanout "* ]] && run fanout --streams "${FANOUT_STREAMS:-10000}" --chats "${FANOUT_CHATS:-200}" \
    --seconds "${FANOUT_SECONDS:-15}" --rate "${FANOUT_RATE:-20}"
[[ $scenarios == *" files "* ]] && run files --big-mib 25 --photos "${FILES_PHOTOS:-100}" --concurrency 4
# Bytes of a first and a repeat visit to a chat page, and the CPU of compressing pages.
[[ $scenarios == *" bytes "* ]] && run bytes --cpu-requests "${BYTES_CPU_REQUESTS:-2000}"

if [ "${BENCH_EXPLAIN:-1}" = 1 ] && [[ $scenarios == *" pages "* ]]; then
    echo; echo "== EXPLAIN and statements per request"
    .ci/bench-explain.sh "$sock" chaat "$port" "$dir/postgres.log" || status=1
fi

echo; echo "== results ($out)"
cat "$out"
python3 - "$out" <<'PY' || true
import json, sys
rows = {r["scenario"]: r for r in map(json.loads, open(sys.argv[1]))}
if "pgbench" in rows and "dm" in rows:
    tps, dm = rows["pgbench"]["tps"], rows["dm"]["messages_per_sec"]
    print(f"dm: {dm} msg/s = {dm / tps:.0%} of pgbench's {tps:.0f} one-row inserts/s")
PY
exit $status
