#!/usr/bin/env bash
# The database's own insert rate: pgbench with one message-like INSERT per transaction
# into a scratch table shaped like `messages` (same columns and unique indexes, no
# foreign keys), 16 clients, a few seconds. Prints the line `pgbench_tps=<tx/s>`.
#
#   .ci/pgbench.sh <socket dir or host> <database> [seconds] [clients]
#
# Runs against whatever server it is given (the bench runner passes the app's own
# cluster, so durability settings are the app's). The scratch table is dropped after.
# No CHECKPOINT before it exits: nothing of this run lands in the next scenario's
# window (BENCHMARKS.md, "Issue 19, `dmpg`": over `dm` right after it, no checkpoint,
# no autovacuum, the same full-page writes as `dm` alone, walwriter 2-3 us a message;
# a dropped table's buffers are discarded, not written).
set -euo pipefail
host=${1:?socket directory or host}
db=${2:?database}
seconds=${3:-5}
clients=${4:-16}
psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$host" -U app -d "$db")

"${psql[@]}" <<'SQL'
DROP TABLE IF EXISTS bench_messages;
CREATE TABLE bench_messages (
    message_id uuid PRIMARY KEY,
    chat_id uuid NOT NULL,
    seq bigint NOT NULL,
    sender uuid NOT NULL,
    sent_time timestamptz NOT NULL DEFAULT now(),
    text text NOT NULL,
    client_id uuid,
    kind text NOT NULL DEFAULT 'text',
    UNIQUE (chat_id, seq),
    UNIQUE (sender, client_id)
);
SQL
script=$(mktemp)
trap '"${psql[@]}" -c "DROP TABLE IF EXISTS bench_messages" >/dev/null 2>&1 || true; rm -f "$script"' EXIT
cat >"$script" <<'SQL'
\set seq random(1, 1000000000)
INSERT INTO bench_messages (message_id, chat_id, seq, sender, text, client_id)
VALUES (gen_random_uuid(), gen_random_uuid(), :seq, gen_random_uuid(),
        'LDM0-0. message 0 of pair 0 from the load test', gen_random_uuid());
SQL
out=$(pgbench -n -h "$host" -U app -c "$clients" -j 2 -T "$seconds" -f "$script" "$db" 2>&1)
echo "$out" | grep -E '^(number of clients|number of transactions actually processed|latency average|tps)' || true
tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
[ -n "$tps" ] || { echo "$out" >&2; echo "pgbench failed" >&2; exit 1; }
echo "pgbench_tps=$tps"
