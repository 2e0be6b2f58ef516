#!/usr/bin/env bash
# After a bench run (the app and its cluster still up): EXPLAIN (ANALYZE, BUFFERS) of
# the queries behind the chat list, the chat page and a send, for a person of the
# `pages` scenario (a direct chat with history), and the number of SQL statements each
# request runs (log_statement=all for the duration of three requests).
#
#   .ci/bench-explain.sh <socket dir> <database> <app port> <cluster log file>
set -euo pipefail
sock=${1:?} db=${2:?} port=${3:?} pglog=${4:?}
psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -U app -d "$db")
password=load-test-password-1   # chaat::load::person::PASSWORD

# Plans as in steady state: autovacuum analyzes after a burst, but not yet right
# after the bench's burst (before ANALYZE the planner believes the tables are tiny).
"${psql[@]}" -c "ANALYZE"

# A person with a direct chat with 50+ messages, their friend and the chat.
read -r me other chat me_name < <("${psql[@]}" -At -F ' ' -c "
  SELECT p.user_id, o.user_id, c.chat_id, u.username
    FROM chats c JOIN chat_participants p ON p.chat_id = c.chat_id
    JOIN chat_participants o ON o.chat_id = c.chat_id AND o.user_id <> p.user_id
    JOIN users u ON u.user_id = p.user_id
   WHERE NOT c.is_group AND c.last_seq >= 50 ORDER BY c.last_seq DESC LIMIT 1")
echo "person $me_name ($me), chat $chat"

explain() {
    echo; echo "-- $1"
    "${psql[@]}" -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) $2"
}
explain "session load (a request whose session is not in the instance's cache)" "SELECT data, last_seen_at, expires_at FROM sessions WHERE key_hash = (SELECT key_hash FROM sessions WHERE user_id = '$me' LIMIT 1) AND expires_at > now()"
explain "nav counts (the chat list and other pages)" "SELECT (SELECT count(*) FROM friend_requests WHERE to_user = '$me' AND status = 'pending') AS pending_requests, (SELECT COALESCE(sum(nc.last_seq - np.last_read_seq), 0)::bigint FROM chat_participants np JOIN chats nc ON nc.chat_id = np.chat_id WHERE np.user_id = '$me') AS unread_messages"
explain "chat list" "SELECT c.chat_id, c.is_group, c.name, c.last_activity_at, (c.last_seq - p.last_read_seq) AS unread, o.user_id AS other_id, o.username AS other_name, m.text AS last_text, m.kind AS last_kind, s.username AS last_sender, CASE WHEN c.is_group THEN ARRAY(SELECT gp.user_id FROM chat_participants gp WHERE gp.chat_id = c.chat_id ORDER BY gp.joined_at LIMIT 4) ELSE '{}'::uuid[] END AS member_ids FROM chat_participants p JOIN chats c ON c.chat_id = p.chat_id LEFT JOIN direct_chats d ON d.chat_id = c.chat_id LEFT JOIN users o ON o.user_id = CASE WHEN d.user_low = '$me' THEN d.user_high ELSE d.user_low END LEFT JOIN messages m ON m.chat_id = c.chat_id AND m.seq = c.last_seq LEFT JOIN users s ON s.user_id = m.sender WHERE p.user_id = '$me' ORDER BY c.last_activity_at DESC, c.chat_id"
explain "friends (chat list's new-group form)" "SELECT u.user_id, u.username FROM friends f JOIN users u ON u.user_id = CASE WHEN f.user1 = '$me' THEN f.user2 ELSE f.user1 END WHERE f.user1 = '$me' OR f.user2 = '$me' ORDER BY u.username"
explain "chat page: the chat, whether I may send, my mute and whom I blocked (the badges come with the chat list)" "SELECT v.chat_id, v.is_group, v.name, v.last_seq, v.last_read_seq, v.role, v.other_id, v.other_name, v.can_send, v.last_rev, (SELECT mp.muted_until FROM chat_participants mp WHERE mp.chat_id = v.chat_id AND mp.user_id = '$me') AS muted_until, ARRAY(SELECT b.blocked FROM blocks b WHERE b.blocker = '$me') AS blocked FROM chats_as_seen v WHERE v.viewer = '$me' AND v.chat_id = '$chat'"
explain "chat page: latest 50 (+1) messages" "SELECT m.message_id, m.chat_id, m.seq, m.sender, u.username AS sender_name, m.sent_time, m.text, m.kind FROM messages m JOIN users u ON u.user_id = m.sender WHERE m.chat_id = '$chat' AND m.seq < 9223372036854775807 ORDER BY m.seq DESC LIMIT 51"
explain "send, refused only: repeated client_id?" "SELECT m.message_id FROM messages m JOIN users u ON u.user_id = m.sender WHERE m.sender = '$me' AND m.client_id = gen_random_uuid()"
echo; echo "-- send: the two statements inside send_message() (migration 000025; the mentions insert left out), rolled back"
"${psql[@]}" <<SQL
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT 1 FROM chats WHERE chat_id = '$chat' FOR UPDATE;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
WITH c AS (UPDATE chats SET last_seq = last_seq + 1, last_rev = last_rev + 1, last_activity_at = now()
            WHERE chat_id = '$chat'
              AND EXISTS (SELECT 1 FROM chat_participants WHERE chat_id = '$chat' AND user_id = '$me')
              AND (is_group OR EXISTS (SELECT 1 FROM direct_chats d JOIN friends f ON f.user1 = d.user_low AND f.user2 = d.user_high WHERE d.chat_id = '$chat'))
              AND (is_group OR NOT EXISTS (SELECT 1 FROM direct_chats d WHERE d.chat_id = '$chat' AND blocked_between(d.user_low, d.user_high)))
              AND NOT EXISTS (SELECT 1 FROM messages WHERE sender = '$me' AND client_id = gen_random_uuid())
           RETURNING last_seq, last_rev, is_group),
     m AS (INSERT INTO messages (message_id, chat_id, seq, rev, sender, text, client_id, kind)
           SELECT gen_random_uuid(), '$chat', c.last_seq, c.last_rev, '$me', 'explain', gen_random_uuid(), 'text' FROM c
           RETURNING message_id, chat_id, seq, sender, sent_time, text, kind),
     p AS (UPDATE chat_participants SET last_read_seq = c.last_seq FROM c WHERE chat_id = '$chat' AND user_id = '$me')
SELECT m.message_id, m.chat_id, m.seq, m.sender, u.username, m.sent_time, m.text, m.kind FROM m JOIN users u ON u.user_id = m.sender;
ROLLBACK;
SQL

# Statements per request: log everything for three requests of a logged-in person.
jar=$(mktemp); trap 'rm -f "$jar"' EXIT
base=http://127.0.0.1:$port
token=$(curl -s -c "$jar" -b "$jar" "$base/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
curl -s -o /dev/null -c "$jar" -b "$jar" --data-urlencode "username=$me_name" --data-urlencode "password=$password" --data-urlencode "csrf_token=$token" "$base/login"
token=$(curl -s -c "$jar" -b "$jar" "$base/chats/$chat" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
"${psql[@]}" -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
count() {
    local label=$1; shift
    local before; before=$(wc -l <"$pglog")
    "$@" >/dev/null
    sleep 0.5
    echo "$label: $(tail -n +"$((before + 1))" "$pglog" | grep -cE 'LOG: +(statement|execute)') statements"
    tail -n +"$((before + 1))" "$pglog" | grep -E 'LOG: +(statement|execute)' | sed 's/^.*LOG: */    /' | cut -c1-150
}
count "GET /chats" curl -s -b "$jar" "$base/chats"
count "GET /chats/{id}" curl -s -b "$jar" "$base/chats/$chat"
count "POST /chats/{id}/messages (htmx)" curl -s -b "$jar" -H "HX-Request: true" -H "X-CSRF-Token: $token" --data-urlencode "text=counted" --data-urlencode "client_id=$(cat /proc/sys/kernel/random/uuid)" "$base/chats/$chat/messages"
"${psql[@]}" -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null
