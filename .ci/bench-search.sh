#!/usr/bin/env bash
# `make bench-search` (issue 16): message search at scale. Builds release, starts Chaat
# with its own private PostgreSQL cluster in /tmp (.ci/app.sh), signs up one person over
# HTTP, seeds in SQL (generate_series) 200 chats of theirs (100 direct, 100 groups of
# four) holding SEARCH_MESSAGES messages (1,000,000) of a Zipf-like word mix (about 9
# words each from a 20,000-word vocabulary; 2 % Russian, 2 % Chinese, 1 % Greek), then
# times `GET /search?q=…` over HTTP on 127.0.0.1 for several kinds of query, one request
# at a time (curl's time_total: request sent to body received), and prints p50/p95/p99
# for each, the EXPLAIN (ANALYZE, BUFFERS) of the search statement for a common and a
# rare word, and the cost of the search index to an insert (pgbench on a scratch table
# shaped like `messages`, with and without the stored search column and its index).
# Stops everything.
#
# Knobs (environment): SEARCH_MESSAGES (1000000), SEARCH_REQUESTS (requests per kind,
# 200), BENCH_PORT (18438), BENCH_NO_BUILD=1 (use the last build), BENCH_BIN (the
# directory of the `chaat` binary; default target/release), PGBENCH_SECONDS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
port=${BENCH_PORT:-18438}
total=${SEARCH_MESSAGES:-1000000}
requests=${SEARCH_REQUESTS:-200}
bin=${BENCH_BIN:-$CARGO_TARGET_DIR/release}
chats=200

[ "${BENCH_NO_BUILD:-0}" = 1 ] || cargo build --release --locked --bin chaat
echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"

. .ci/app.sh
dir= app_pid=
work=$(mktemp -d /tmp/chaat-bench-search-work.XXXXXX)
stop() {
    stop_app
    [ -z "$dir" ] || rm -rf "$dir"
    rm -rf "$work"
}
trap stop EXIT
start_app "$bin" "$port" bench-search
sock=$dir/run
psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -U app -d chaat)
base=http://127.0.0.1:$port
echo "== app pid $app_pid on $base, database socket $sock"

# The searcher signs up through the form, like a browser (CSRF token from the page).
jar=$work/cookies
token=$(curl -fs -c "$jar" -b "$jar" "$base/signup" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
password=bench-search-password-1
curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" --data-urlencode "username=seeker" \
    --data-urlencode "password=$password" --data-urlencode "password_confirm=$password" "$base/signup"
curl -fs -o /dev/null -b "$jar" "$base/search?q=warmup" || { echo "the searcher is not logged in"; exit 1; }

echo; echo "== seeding $total messages in $chats chats (SQL, generate_series)"
start=$(date +%s)
"${psql[@]}" -v total="$total" -v chats="$chats" <<'SQL'
SET maintenance_work_mem = '512MB';
SET synchronous_commit = off;
BEGIN;
-- 20,000 words: chat's most common words first (Zipf: the rank-r word is picked with a
-- probability about 1/r), then made-up words of three or four syllables.
CREATE TEMP TABLE vocab AS
SELECT n AS rank, w AS word
  FROM unnest(ARRAY['the','to','i','you','a','and','it','is','that','in','we','for','of','on','me','so','ok','be',
       'this','have','just','at','can','do','not','what','are','with','but','my','yeah','no','will','get','if','all',
       'was','know','like','go','think','good','see','time','how','now','one','up','out','there','about','when',
       'tomorrow','meeting','lunch','today','call','later','thanks','sure','great','work','home','send','file',
       'check','let','need','want','going','back','new','night','morning','week','weekend','project','done','yes',
       'hey','hi','hello','maybe','right','still','really','also','some','more','got','make','day','well','then',
       'than','too','sorry','would','could','should','them','they','he','she','his','her','its','our','your',
       'their','been','did','had','has','from','by','an','or','as','were','coffee','train','office','dinner',
       'movie','party','birthday','weather','ticket','doctor','report','deadline','budget','server','deploy']) WITH ORDINALITY AS t(w, n);
INSERT INTO vocab
SELECT n, s[1 + n % 20] || s[1 + (n / 20) % 20] || s[1 + (n / 400) % 20] || CASE WHEN n >= 8000 THEN s[1 + (n / 8000) % 20] ELSE '' END
  FROM generate_series((SELECT max(rank) + 1 FROM vocab), 20000) AS n,
       (SELECT ARRAY['ka','lo','mi','ren','to','sa','vel','dor','pi','nu','ga','ther','qui','zo','bel','tan','ric','mo','fe','lun'] AS s) AS syl;

-- 200 peers (they never log in) and 200 chats of the searcher: 100 direct with a
-- friend, 100 groups with three peers.
CREATE TEMP TABLE me AS SELECT user_id FROM users WHERE username = 'seeker';
INSERT INTO users (user_id, username, dynamic_salt, pwd_hash)
SELECT gen_random_uuid(), 'peer' || lpad(i::text, 3, '0'), 'x', 'x' FROM generate_series(1, :chats) AS i;
CREATE TEMP TABLE peer AS
SELECT row_number() OVER (ORDER BY username) - 1 AS i, user_id FROM users WHERE username LIKE 'peer%';
CREATE TEMP TABLE bench_chat AS
SELECT p.i, gen_random_uuid() AS chat_id, p.i < :chats / 2 AS is_group, p.user_id AS other FROM peer p;
INSERT INTO chats (chat_id, name, is_group, created_by)
SELECT chat_id, CASE WHEN is_group THEN 'Group ' || i END, is_group, (SELECT user_id FROM me) FROM bench_chat;
INSERT INTO friends (id, user1, user2)
SELECT gen_random_uuid(), least(m.user_id, c.other), greatest(m.user_id, c.other) FROM bench_chat c, me m WHERE NOT c.is_group;
INSERT INTO direct_chats (user_low, user_high, chat_id)
SELECT least(m.user_id, c.other), greatest(m.user_id, c.other), c.chat_id FROM bench_chat c, me m WHERE NOT c.is_group;
INSERT INTO chat_participants (chat_id, user_id, role)
SELECT c.chat_id, m.user_id, CASE WHEN c.is_group THEN 'owner' ELSE 'member' END FROM bench_chat c, me m
UNION ALL SELECT c.chat_id, c.other, 'member' FROM bench_chat c
UNION ALL SELECT c.chat_id, p.user_id, 'member' FROM bench_chat c JOIN peer p ON p.i IN ((c.i + 1) % :chats, (c.i + 2) % :chats) WHERE c.is_group;
COMMIT;

-- The messages, with the search index built once afterwards (faster than keeping it
-- up to date row by row; the definition is read back, not repeated). Ids are UUIDv7
-- of the send time, as the app makes them (results are ordered by id).
ALTER TABLE vocab ADD PRIMARY KEY (rank);
ANALYZE vocab;
SELECT pg_get_indexdef('messages_search_idx'::regclass) AS indexdef \gset
DROP INDEX messages_search_idx;
WITH ru AS (SELECT ARRAY['Привет','как','дела','встреча','завтра','утром','спасибо','хорошо','работа','дома',
                         'Москва','поезд','кофе','документ','отправь','позже','сегодня','вечером','Да','нет'] AS w),
     el AS (SELECT ARRAY['Καλημέρα','τι','κάνεις','αύριο','συνάντηση','ευχαριστώ','ΟΔΟΣ','καφές','σπίτι','δουλειά'] AS w),
     zh AS (SELECT '我们明天在東京都见面吧今天的会议改到下午三点请把文件发给我谢谢你的帮助天气很好一起去吃午饭吗' AS t)
INSERT INTO messages (message_id, chat_id, seq, sender, sent_time, text, kind)
SELECT (lpad(to_hex(floor(extract(epoch FROM x.t) * 1000)::bigint), 12, '0') || '7' || substr(x.h, 1, 3) || '8' || substr(x.h, 4, 15))::uuid,
       c.chat_id, g / :chats + 1,
       CASE WHEN g % 3 = 0 THEN (SELECT user_id FROM me) ELSE c.other END,
       x.t,
       CASE
         WHEN g % 50 = 1 THEN (SELECT string_agg(ru.w[1 + floor(random() * 20)::int], ' ') FROM ru, generate_series(0, 2 + g % 7))
         WHEN g % 50 = 2 THEN (SELECT substr(zh.t, 1 + floor(random() * 30)::int, 4 + g % 12) FROM zh WHERE g >= 0)
         WHEN g % 100 = 3 THEN (SELECT string_agg(el.w[1 + floor(random() * 10)::int], ' ') FROM el, generate_series(0, 2 + g % 5))
         ELSE (SELECT string_agg((SELECT v.word FROM vocab v WHERE v.rank = k.r), ' ')
                 FROM (SELECT least(floor(exp(random() * ln(20000)))::int, 20000) AS r FROM generate_series(0, 2 + g % 13)) AS k)
       END,
       'text'
  FROM generate_series(0, :total - 1) AS g
  JOIN bench_chat c ON c.i = g % :chats
  CROSS JOIN LATERAL (SELECT now() - interval '365 days' + g * (interval '365 days' / :total) AS t, md5(g::text || random()::text) AS h) AS x;
UPDATE chats c SET last_seq = m.n, last_activity_at = m.t
  FROM (SELECT chat_id, max(seq) AS n, max(sent_time) AS t FROM messages GROUP BY chat_id) m WHERE m.chat_id = c.chat_id;
UPDATE chat_participants p SET last_read_seq = c.last_seq FROM chats c WHERE c.chat_id = p.chat_id;
:indexdef;
VACUUM ANALYZE;
SQL
echo "seeded in $(( $(date +%s) - start )) s: $("${psql[@]}" -At -c "SELECT count(*) FROM messages") messages," \
     "index $("${psql[@]}" -At -c "SELECT pg_size_pretty(pg_relation_size('messages_search_idx'))")," \
     "table $("${psql[@]}" -At -c "SELECT pg_size_pretty(pg_relation_size('messages'))")"

# The queries of each kind: words picked by their rank in the vocabulary (common: the
# top 20; mid: ranks 200-1000; rare: ranks 5,000-20,000, each in about 0.05 % of the
# messages), so that no single cached answer is timed over and over.
"${psql[@]}" -At >"$work/words" <<'SQL'
SELECT 'common ' || w FROM unnest(ARRAY['the','you','and','it','is','that','in','we','for','of','me','so','ok','this','have','just','can','do','not','what']) w
UNION ALL SELECT 'mid ' || w FROM unnest(ARRAY['coffee','train','office','dinner','movie','party','birthday','weather','ticket','doctor','report','deadline','budget','server','deploy']) w
UNION ALL SELECT 'rare ' || m.w FROM (SELECT unnest(regexp_split_to_array(text, ' ')) AS w FROM messages WHERE kind = 'text' AND text ~ '^[a-z ]+$' ORDER BY message_id LIMIT 3000) m
   WHERE length(m.w) >= 8 GROUP BY m.w HAVING count(*) = 1 LIMIT 50;
SQL
mapfile -t common < <(sed -n 's/^common //p' "$work/words")
mapfile -t mid < <(sed -n 's/^mid //p' "$work/words")
mapfile -t rare < <(sed -n 's/^rare //p' "$work/words")
[ "${#rare[@]}" -gt 0 ] || { echo "no rare words found"; exit 1; }
echo "words: ${#common[@]} common, ${#mid[@]} mid, ${#rare[@]} rare (e.g. ${rare[0]})"

query_for() {   # kind index -> q
    local i=$2
    case $1 in
        common) echo "${common[i % ${#common[@]}]}" ;;
        mid) echo "${mid[i % ${#mid[@]}]}" ;;
        rare) echo "${rare[i % ${#rare[@]}]}" ;;
        prefix) local w=${mid[i % ${#mid[@]}]}; echo "${w:0:4}" ;;
        two-words) echo "${common[i % ${#common[@]}]} ${mid[i % ${#mid[@]}]}" ;;
        phrase) echo "\"see you tomorrow\"" ;;
        exclusion) echo "${mid[i % ${#mid[@]}]} -the" ;;
        from) echo "from:peer$(printf %03d $((i % chats))) ${common[i % ${#common[@]}]}" ;;
        cyrillic) echo "ВСТРЕЧА" ;;
        cjk) echo "東京" ;;
        nothing) echo "zzzzqqqq" ;;
    esac
}

kinds=(common mid rare prefix two-words phrase exclusion from cyrillic cjk nothing)
echo; echo "== $requests requests per kind, one at a time (ms: p50 p95 p99 max; results on the first page)"
printf '%-10s %8s %8s %8s %8s  %s\n' kind p50 p95 p99 max "example"
status=0
for kind in "${kinds[@]}"; do
    : >"$work/times"
    for ((i = 0; i < requests; i++)); do
        q=$(query_for "$kind" "$i")
        out=$(curl -s -o "$work/body" -w '%{http_code} %{time_total}' -b "$jar" -G --data-urlencode "q=$q" "$base/search")
        code=${out% *}
        [ "$code" = 200 ] || { echo "$kind $q: HTTP $code"; status=1; }
        echo "${out#* }" >>"$work/times"
    done
    hits=$(grep -c 'class="search-result card"' "$work/body" || true)
    sort -n "$work/times" | awk -v kind="$kind" -v ex="$q ($hits shown)" '
        { t[NR] = $1 * 1000 }
        END { n = NR;
              printf "%-10s %8.1f %8.1f %8.1f %8.1f  %s\n", kind, t[int(n * 0.50 + 0.5)], t[int(n * 0.95 + 0.5)], t[int(n * 0.99 + 0.5)], t[n], ex }'
done

echo; echo "== EXPLAIN (ANALYZE, BUFFERS) of the search statement (models/search.rs), common and rare word"
me=$("${psql[@]}" -At -c "SELECT user_id FROM users WHERE username = 'seeker'")
for word in "${common[0]}" "${rare[0]}"; do
    echo; echo "-- q=$word"
    "${psql[@]}" -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON)
      SELECT m.message_id, m.chat_id, m.seq, m.sent_time, m.sender, s.username AS sender_name, m.text, v.is_group, v.name, v.other_name
        FROM messages m JOIN chats_as_seen v ON v.chat_id = m.chat_id AND v.viewer = '$me' JOIN users s ON s.user_id = m.sender
       WHERE m.kind = 'text' AND m.search_vector @@ to_tsquery('simple', '''$word'':*')
       ORDER BY m.message_id DESC LIMIT 21"
done

echo; echo "== the index's cost to an insert: pgbench, one message-like row per transaction, 16 clients, ${PGBENCH_SECONDS:-10} s each"
"${psql[@]}" -c "CREATE TABLE bench_messages (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS)" \
             -c "ALTER TABLE bench_messages DROP COLUMN search_vector" \
             -c "ALTER TABLE bench_messages ADD PRIMARY KEY (message_id), ADD UNIQUE (chat_id, seq), ADD UNIQUE (sender, client_id)"
cat >"$work/insert.sql" <<'SQL'
\set seq random(1, 1000000000)
INSERT INTO bench_messages (message_id, chat_id, seq, sender, text, client_id)
VALUES (gen_random_uuid(), gen_random_uuid(), :seq, gen_random_uuid(),
        'hey are we still on for lunch tomorrow at the new place near the office', gen_random_uuid());
SQL
for variant in without with; do
    if [ "$variant" = with ]; then
        "${psql[@]}" -c "TRUNCATE bench_messages" \
            -c "ALTER TABLE bench_messages ADD COLUMN search_vector tsvector NOT NULL GENERATED ALWAYS AS (search_document(text)) STORED" \
            -c "CREATE INDEX ON bench_messages USING gin (search_vector)"
    fi
    out=$(pgbench -n -h "$sock" -U app -c 16 -j 2 -T "${PGBENCH_SECONDS:-10}" -f "$work/insert.sql" chaat 2>&1)
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
    lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\).*/\1/p' | head -1)
    echo "$variant the search index: $tps inserts/s, latency average $lat ms"
done
"${psql[@]}" -c "DROP TABLE bench_messages"
exit $status
