#!/usr/bin/env bash
# Where PostgreSQL's time per `dm` message (`mixed` action, `pages` request) goes (issue 19): a
# release `chaat serve` on its own private cluster with `pg_stat_statements` loaded
# (track = all, so the statements inside `send_messages` and the other functions are
# listed too), one `chaat-load` run, then every statement's calls, total and mean time
# per unit, the commits and WAL per unit, and the cluster's CPU per unit by process
# kind (from /proc; it includes the scenario's setup: signups, chats).
#
#   .ci/dm-statements.sh                   (after a release build of the workspace)
#   SCENARIO=mixed .ci/dm-statements.sh    (per action: send, reply, edit, react)
#   SCENARIO=pages .ci/dm-statements.sh    (per request: half /chats, half a chat page)
#
# Knobs (environment): SCENARIO (dm, mixed or pages), DM_PAIRS (50), DM_SECONDS (10),
# MIXED_PAIRS (20), MIXED_SECONDS (10), PAGES_SECONDS (10), STATEMENTS (30), QUERY_CHARS (110), BEFORE_SQL and
# AFTER_SQL (psql scripts run on the bench database before the load, e.g. a candidate
# migration, and at the end, e.g. an EXPLAIN), BENCH_PORT (18457),
# CARGO_TARGET_DIR. Needs Debian's postgresql package (contrib holds the extension).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
port=${BENCH_PORT:-18457}
ulimit -n "$(ulimit -Hn)"
# The unit: a message written for dm (counted in the table), an action for mixed
# (counted by chaat-load: edits and reactions write no message), a request for pages
# (bench.sh's: 64 clients, a browser's Accept-Encoding).
case ${SCENARIO:=dm} in
    dm) unit=message load=(dm --pairs "${DM_PAIRS:-50}" --seconds "${DM_SECONDS:-10}") ;;
    mixed) unit=action load=(mixed --pairs "${MIXED_PAIRS:-20}" --seconds "${MIXED_SECONDS:-10}") ;;
    pages) unit=request load=(pages --concurrency 64 --seconds "${PAGES_SECONDS:-10}" --accept-encoding "gzip, deflate, br, zstd") ;;
    *) echo "SCENARIO: dm, mixed or pages" >&2; exit 2 ;;
esac

. .ci/app.sh
dir= app_pid=
trap 'stop_app; [ -z "$dir" ] || rm -rf "$dir"' EXIT
start_app "$bin" "$port" statements
sock=$dir/run
psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -U app -d chaat)
"${psql[@]}" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
# The library loads only at the server's start: stop the app (it stops its cluster)
# and start it again on the same data directory.
stop_app
CHAAT_DATA_DIR=$dir CHAAT_BIND=127.0.0.1:$port RUST_LOG=warn lifted_limits "$bin/chaat" serve >>"$dir/app.log" 2>&1 &
app_pid=$!
wait_healthy "$port" "$app_pid" "$dir/app.log"
"${psql[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
    -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on" -c "SELECT pg_reload_conf()" >/dev/null
postmaster=$(head -1 "$dir/pgdata/postmaster.pid")
[ -z "${BEFORE_SQL:-}" ] || "${psql[@]}" -f "$BEFORE_SQL"

# CPU ticks of every process of the cluster, with what it is (backend type, or the
# app's listener / notifier by application name).
cpu_by_kind() {
    "${psql[@]}" -At -F ' ' -c "SELECT pid, replace(coalesce(nullif(application_name, ''), backend_type), ' ', '_') FROM pg_stat_activity" |
        while read -r pid kind; do
            [ -r "/proc/$pid/stat" ] || continue
            echo "$kind $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)"
        done
}

"${psql[@]}" -c "SELECT pg_stat_statements_reset()" -c "SELECT pg_stat_reset_shared('wal')" >/dev/null
"${psql[@]}" -At -c "SELECT count(*) FROM messages" >"$dir/messages.before"
"${psql[@]}" -At -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'chaat'" >"$dir/commits.before"
cpu_by_kind >"$dir/cpu.before"
"$bin/chaat-load" --base "http://127.0.0.1:$port" --server-pid "$app_pid" --db-pid "$postmaster" \
    "${load[@]}" | tee "$dir/load.out"
cpu_by_kind >"$dir/cpu.after"
n=$(( $("${psql[@]}" -At -c "SELECT count(*) FROM messages") - $(cat "$dir/messages.before") ))
case $SCENARIO in mixed) n=$(tail -1 "$dir/load.out" | jq .actions) ;; pages) n=$(tail -1 "$dir/load.out" | jq .requests) ;; esac
commits=$(( $("${psql[@]}" -At -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'chaat'") - $(cat "$dir/commits.before") ))
echo
echo "== $n ${unit}s ($SCENARIO); $commits commits in the database (incl. this script's few)"
echo "== CPU µs per $unit by process kind (ticks of $(getconf CLK_TCK) Hz)"
awk -v n="$n" -v hz="$(getconf CLK_TCK)" '
    NR == FNR { before[$1] += $2; next } { after[$1] += $2 }
    END { for (k in after) { d = after[k] - before[k]; if (d > 0) printf "  %-28s %8.1f\n", k, d / hz * 1e6 / n } }' \
    "$dir/cpu.before" "$dir/cpu.after" | sort -k2 -nr
echo
echo "== WAL per $unit"
"${psql[@]}" -c "SELECT round(wal_records::numeric / $n, 2) AS records, round(wal_fpi::numeric / $n, 2) AS fpi,
                        round(wal_bytes / $n) AS bytes, round(wal_sync::numeric / $n, 3) AS syncs,
                        round(wal_write::numeric / $n, 3) AS writes FROM pg_stat_wal"
echo "== statements (toplevel t: sent by the app; f: inside a function), per $unit"
"${psql[@]}" -c "
  SELECT toplevel AS top, round(calls::numeric / $n, 3) AS calls_per_unit, calls,
         round(total_exec_time::numeric) AS total_ms, round((mean_exec_time * 1000)::numeric) AS mean_us,
         round((total_exec_time * 1000 / $n)::numeric, 1) AS us_per_unit,
         round(rows::numeric / $n, 2) AS rows_per_unit, round(plans::numeric / nullif(calls, 0), 2) AS plans_per_call,
         round((total_plan_time * 1000 / $n)::numeric, 1) AS plan_us_per_unit,
         left(regexp_replace(query, '\s+', ' ', 'g'), ${QUERY_CHARS:-110}) AS query
    FROM pg_stat_statements
   WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'chaat')
   ORDER BY total_exec_time DESC LIMIT ${STATEMENTS:-30}"
[ -z "${AFTER_SQL:-}" ] || "${psql[@]}" -f "$AFTER_SQL"
