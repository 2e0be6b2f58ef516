#!/usr/bin/env bash
# Issue 20's cluster on one machine: everything in one directory, PostgreSQL and
# PgBouncer on Unix sockets there, HAProxy on 127.0.0.1. Debian's own engines only.
#
#   .ci/cluster.sh db-up DIR                 a PostgreSQL primary, a hot standby of it
#                                            (streaming replication, pg_basebackup -R)
#                                            and PgBouncer (transaction mode) in front of
#                                            the primary; prints KEY=VALUE lines:
#                                            DIRECT_URL, STANDBY_URL, POOLER_URL
#   .ci/cluster.sh balancer-up DIR PORT HOST:PORT...
#                                            HAProxy on 127.0.0.1:PORT over those
#                                            instances; prints BALANCER_URL
#   .ci/cluster.sh standby-stop DIR | standby-start DIR
#   .ci/cluster.sh down DIR                  stops everything started in DIR
#
# Used by `make cluster-demo` (.ci/cluster-demo.sh), by the benchmark through the
# balancer (.ci/bench.sh with BENCH_VIA=balancer) and by the tests
# (tests/it/cluster_balancer.rs). The configurations are .ci/cluster/*.
#
# Knobs: CLUSTER_FAST=1 (no fsync: tests), POOLER_POOL_SIZE (PgBouncer's server
# connections, default 20), STATEMENT_TIMEOUT_MS (set by PgBouncer, default 5000).
# As root, PostgreSQL and PgBouncer run as `postgres` (both refuse root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() {
    sed -n '4,17p' "$0" >&2
    exit 2
}

# $PG_BIN, else pg_config --bindir, else the newest /usr/lib/postgresql/*/bin (as the
# app's private cluster finds them, src/db/cluster.rs).
pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
    local d
    d=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$d/initdb" ] || { echo "cluster.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
    echo "$d"
}

is_root() { [ "$(id -u)" -eq 0 ]; }
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }
# Directories the postgres user owns (mode 0700, as PostgreSQL wants its data).
owned() {
    mkdir -p "$@"
    if is_root; then chown postgres:postgres "$@"; fi
    chmod 700 "$@"
}

# start_pg NODE_DIR [-c option]...: starts the server of NODE_DIR/pgdata on the socket
# directory NODE_DIR/run (no TCP), waits until it accepts connections.
start_pg() {
    local node=$1
    shift
    as_pg "$bin/pg_ctl" -D "$node/pgdata" -w -t 60 -l "$node/postgres.log" \
        -o "-c listen_addresses='' -k $node/run $*" start >/dev/null
}

stop_pg() {
    local node=$1
    if [ -f "$node/pgdata/postmaster.pid" ]; then
        as_pg "$bin/pg_ctl" -D "$node/pgdata" -w -m fast stop >/dev/null 2>&1 || true
    fi
}

fast_opts() {
    if [ "${CLUSTER_FAST:-0}" = 1 ]; then echo "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"; fi
}

db_up() {
    local dir=$1
    mkdir -p "$dir"
    chmod 755 "$dir"
    local p=$dir/primary s=$dir/standby b=$dir/pgbouncer
    owned "$p" "$p/run" "$s" "$s/run" "$b"
    as_pg "$bin/initdb" -D "$p/pgdata" -U app -A trust -E UTF8 --no-locale --no-sync >"$p/initdb.log"
    # wal_level=replica and max_wal_senders=10 are PostgreSQL 15's defaults.
    start_pg "$p" "-c max_connections=300 $(fast_opts)"
    as_pg "$bin/psql" -X -q -h "$p/run" -U app -d postgres -c 'CREATE DATABASE chaat'
    # A copy of the primary that follows it: -R writes standby.signal and the
    # primary_conninfo (the primary's socket) into the copy.
    as_pg "$bin/pg_basebackup" -h "$p/run" -U app -D "$s/pgdata" -R -X stream -c fast --no-sync
    # Feedback keeps the primary's vacuum from removing rows a standby query still reads
    # (such a query would otherwise be cancelled: the app then reads the primary).
    start_pg "$s" "-c max_connections=300 -c hot_standby=on -c hot_standby_feedback=on $(fast_opts)"

    sed -e "s|@PRIMARY_SOCKET@|$p/run|" -e "s|@DIR@|$b|g" \
        -e "s|@POOL_SIZE@|${POOLER_POOL_SIZE:-20}|" -e "s|@STATEMENT_TIMEOUT_MS@|${STATEMENT_TIMEOUT_MS:-5000}|" \
        "$here/cluster/pgbouncer.ini" >"$b/pgbouncer.ini"
    echo '"app" ""' >"$b/userlist.txt"
    if is_root; then chown postgres:postgres "$b/pgbouncer.ini" "$b/userlist.txt"; fi
    as_pg pgbouncer -d -q "$b/pgbouncer.ini"
    for _ in $(seq 1 100); do
        [ -S "$b/.s.PGSQL.6432" ] && break
        sleep 0.05
    done
    [ -S "$b/.s.PGSQL.6432" ] || { echo "cluster.sh: PgBouncer did not start" >&2; cat "$b/pgbouncer.log" >&2; exit 1; }

    echo "DIRECT_URL=postgresql://app@/chaat?host=$p/run"
    echo "STANDBY_URL=postgresql://app@/chaat?host=$s/run"
    echo "POOLER_URL=postgresql://app@/chaat?host=$b&port=6432"
}

balancer_up() {
    local dir=$1 port=$2
    shift 2
    [ $# -gt 0 ] || usage
    local h=$dir/haproxy servers="" i=0
    mkdir -p "$h"
    for addr in "$@"; do
        i=$((i + 1))
        servers+="    server app$i $addr check"$'\n'
    done
    sed -e "s|@PORT@|$port|" "$here/cluster/haproxy.cfg" |
        awk -v servers="$servers" '$0 == "@SERVERS@" { printf "%s", servers; next } { print }' >"$h/haproxy.cfg"
    haproxy -q -c -f "$h/haproxy.cfg" >/dev/null
    haproxy -q -D -p "$h/haproxy.pid" -f "$h/haproxy.cfg"
    echo "BALANCER_URL=http://127.0.0.1:$port"
}

kill_pidfile() {
    local file=$1 pid
    [ -f "$file" ] || return 0
    pid=$(head -1 "$file")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    local dir=$1
    kill_pidfile "$dir/haproxy/haproxy.pid"
    kill_pidfile "$dir/pgbouncer/pgbouncer.pid"
    stop_pg "$dir/standby"
    stop_pg "$dir/primary"
}

[ $# -ge 2 ] || usage
command=$1 dir=$2
shift 2
bin=$(pg_bin)
case $command in
    db-up) db_up "$dir" ;;
    balancer-up) balancer_up "$dir" "$@" ;;
    standby-stop) stop_pg "$dir/standby" ;;
    standby-start) start_pg "$dir/standby" "-c max_connections=300 -c hot_standby=on -c hot_standby_feedback=on $(fast_opts)" ;;
    down) down "$dir" ;;
    *) usage ;;
esac
