#!/usr/bin/env bash
# `make cluster-demo` (issue 20): Chaat beyond one machine, shown on this one. A
# PostgreSQL primary and a hot standby streaming from it, PgBouncer (transaction mode)
# in front of the primary, two Chaat instances (release build) that use all three, and
# HAProxy in front of the instances, everything private: Unix sockets in a temporary
# directory and 127.0.0.1. Ctrl-C (or any exit) stops everything and removes the
# directory.
#
# Knobs: DEMO_PORT (HAProxy, default 8080), DEMO_INSTANCES (default 2),
# DEMO_FIRST_APP_PORT (default 18081), CLUSTER_NO_BUILD=1 (use the last release build).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
port=${DEMO_PORT:-8080}
instances=${DEMO_INSTANCES:-2}
first=${DEMO_FIRST_APP_PORT:-18081}
bin=$CARGO_TARGET_DIR/release/chaat

[ "${CLUSTER_NO_BUILD:-0}" = 1 ] || cargo build --release --locked --bin chaat

dir=$(mktemp -d /tmp/chaat-cluster.XXXXXX)
pids=()
stop() {
    trap - EXIT INT TERM
    echo
    echo "== stopping"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    bash .ci/cluster.sh down "$dir"
    rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "== PostgreSQL primary, hot standby and PgBouncer in $dir"
urls=$(bash .ci/cluster.sh db-up "$dir")
# KEY=VALUE lines; the values hold `&` and `?`, so no eval.
while IFS= read -r line; do declare "$line"; done <<<"$urls"
echo "$urls" | sed 's/^/   /'

# start_instance PORT: a Chaat instance whose pool goes through PgBouncer, whose LISTEN
# connection and migrations go straight to the primary, whose heavy reads may go to the
# standby, and which trusts HAProxy's X-Forwarded-For (same machine).
start_instance() {
    local app_port=$1
    DATABASE_URL=$POOLER_URL CHAAT_DATABASE_DIRECT_URL=$DIRECT_URL CHAAT_DATABASE_READ_URL=$STANDBY_URL \
    CHAAT_DB_TRANSACTION_POOLING=true CHAAT_TRUSTED_PROXIES=127.0.0.1 CHAAT_BIND=127.0.0.1:$app_port \
    RUST_LOG=${APP_LOG:-warn} "$bin" serve >"$dir/app-$app_port.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$app_port/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "instance on $app_port did not come up:"; cat "$dir/app-$app_port.log"; exit 1
}

addrs=()
for i in $(seq 0 $((instances - 1))); do
    app_port=$((first + i))
    echo "== Chaat instance $((i + 1)) on 127.0.0.1:$app_port (log $dir/app-$app_port.log)"
    start_instance "$app_port"
    addrs+=("127.0.0.1:$app_port")
done

echo "== HAProxy on 127.0.0.1:$port over ${addrs[*]}"
bash .ci/cluster.sh balancer-up "$dir" "$port" "${addrs[@]}" >/dev/null

cat <<EOF

Chaat cluster: open http://127.0.0.1:$port (Ctrl-C stops everything)

  Try: kill one instance (kill -9 ${pids[0]}): pages and open chats carry on through
  the other; stop the standby (bash .ci/cluster.sh standby-stop $dir): history and
  search read from the primary.
EOF
wait "${pids[@]}"
