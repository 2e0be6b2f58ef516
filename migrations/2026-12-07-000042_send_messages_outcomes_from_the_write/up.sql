-- Issue 19, `dmpg`: `send_messages` (000034) answers the sends it wrote from the write
-- itself, and reads outcomes back only when some send was not written.
--
-- 000034 wrote the batch with one statement and read every outcome back with a second,
-- which joined the batch (a CTE, so PostgreSQL knows nothing of its rows) to `messages`
-- by message_id. Its cached generic plan (000040) estimated ~1,000 rows out of that
-- join and so hashed the batch and scanned all of `messages`, twice when the refusal
-- half ran too: 0.7 ms at 7,000 rows, 1.8 ms at 17,000 in one `dm` run, growing with
-- the table (auto_explain in BENCHMARKS.md, "Issue 19, `dmpg`"). Now:
--   * a written send's outcome comes from the write's RETURNING: its seq, rev,
--     sent_time and text as stored, its mentions from the rows the same statement
--     inserts, its quote from the reply guard's own look-up of the message replied to
--     (under the chat's lock: it predates the batch, a reply to a send of the same
--     batch goes to `send_messages_in_turn`);
--   * that look-up is a LATERAL with LIMIT 1 (an index scan by (chat_id, seq)), no
--     longer an EXISTS that the generic plan made on a small table hashed: one scan of
--     all `messages` per batch holding a reply;
--   * only when fewer sends were written than given (a refusal, a repeat, a copy), the
--     others get 000034's read-back with a fresh snapshot, as before (a repeat waited
--     for another transaction, or a retried send whose message id is already stored).
-- Same rows, same order (by ord), same guarantees as 000034's comment lists.
CREATE TYPE send_outcome AS (
    ord int, outcome text, message_id uuid, chat_id uuid, seq bigint, rev bigint, sender_name text,
    sent_time timestamptz, text text, edited boolean, deleted boolean, reply_to bigint, mentions text[],
    quote_message_id uuid, quote_sender_name text, quote_text text, quote_deleted boolean
);

CREATE OR REPLACE FUNCTION send_messages(
    p_chat_ids uuid[], p_message_ids uuid[], p_senders uuid[], p_texts text[], p_client_ids uuid[],
    p_reply_tos bigint[], p_mentions text[]
) RETURNS TABLE (
    ord int, outcome text, message_id uuid, chat_id uuid, seq bigint, rev bigint, sender_name text,
    sent_time timestamptz, text text, edited boolean, deleted boolean, reply_to bigint, mentions text[],
    quote_message_id uuid, quote_sender_name text, quote_text text, quote_deleted boolean
) LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_accepted bigint;
    v_sent send_outcome[];
BEGIN
    PERFORM 1 FROM chats WHERE chat_id = ANY (p_chat_ids) ORDER BY chat_id FOR UPDATE;
    -- A reply to a seq past the chat's end that an earlier send of this chat in the batch
    -- may take.
    IF EXISTS (SELECT 1
                 FROM unnest(p_chat_ids, p_reply_tos) WITH ORDINALITY AS b(chat_id, reply_to, ord)
                 JOIN chats c ON c.chat_id = b.chat_id
                WHERE b.reply_to > c.last_seq
                  AND b.reply_to - c.last_seq <= (SELECT count(*) FROM unnest(p_chat_ids) WITH ORDINALITY AS e(chat_id, ord)
                                                   WHERE e.chat_id = b.chat_id AND e.ord < b.ord)) THEN
        RETURN QUERY SELECT * FROM send_messages_in_turn(p_chat_ids, p_message_ids, p_senders, p_texts, p_client_ids,
                                                         p_reply_tos, p_mentions);
        RETURN;
    END IF;

    WITH b AS (SELECT * FROM unnest(p_chat_ids, p_message_ids, p_senders, p_texts, p_client_ids, p_reply_tos, p_mentions)
                      WITH ORDINALITY AS b(chat_id, message_id, sender, text, client_id, reply_to, mentions, ord)),
         -- The sends that pass every guard of 000029, each against the table.
         -- A reply's original is looked up once, here, by (chat_id, seq), for the guard
         -- and for the quote; a LATERAL with LIMIT, never a sub-select the planner may
         -- hash: 000034's EXISTS, planned while `messages` was small, hashed the whole
         -- table for every batch holding a reply.
         ok AS (SELECT b.*, c.is_group, c.last_seq, c.last_rev, q.message_id AS q_message_id, q.sender AS q_sender,
                       q.text AS q_text, q.deleted_at AS q_deleted_at
                  FROM b JOIN chats c ON c.chat_id = b.chat_id
                  LEFT JOIN LATERAL (SELECT r.message_id, r.sender, r.text, r.deleted_at FROM messages r
                                      WHERE r.chat_id = b.chat_id AND r.seq = b.reply_to LIMIT 1) q ON true
                 WHERE EXISTS (SELECT 1 FROM chat_participants cp WHERE cp.chat_id = b.chat_id AND cp.user_id = b.sender)
                   AND (c.is_group OR (
                        EXISTS (SELECT 1 FROM direct_chats d
                                  JOIN friends f ON f.user1 = d.user_low AND f.user2 = d.user_high
                                 WHERE d.chat_id = c.chat_id)
                        AND NOT EXISTS (SELECT 1 FROM direct_chats d
                                         WHERE d.chat_id = c.chat_id AND blocked_between(d.user_low, d.user_high))))
                   AND NOT EXISTS (SELECT 1 FROM messages e WHERE e.sender = b.sender AND e.client_id = b.client_id)
                   AND (b.reply_to IS NULL OR q.message_id IS NOT NULL)
                   AND b.text = btrim(b.text) AND char_length(b.text) BETWEEN 1 AND 4000),
         -- Of copies of one client_id that pass, the first is written (the others are
         -- then 'repeated'); each chat's written sends are numbered in the order given.
         a AS (SELECT o.*, row_number() OVER (PARTITION BY o.chat_id ORDER BY o.ord) AS k
                 FROM (SELECT ok.*, row_number() OVER (PARTITION BY ok.sender, ok.client_id ORDER BY ok.ord) AS copy
                         FROM ok) o
                WHERE o.client_id IS NULL OR o.copy = 1),
         -- A copy of a client_id that another transaction (a send of the same person to
         -- another chat) stored meanwhile is waited for and skipped, never a unique
         -- violation; it would leave a gap in its chat's seqs (checked below).
         m AS (INSERT INTO messages AS w (message_id, chat_id, seq, rev, sender, text, client_id, kind, reply_to)
               SELECT a.message_id, a.chat_id, a.last_seq + a.k, a.last_rev + a.k, a.sender, a.text, a.client_id, 'text',
                      a.reply_to
                 FROM a ORDER BY a.ord
               ON CONFLICT (sender, client_id) DO NOTHING
               RETURNING w.message_id, w.chat_id, w.seq, w.rev, w.sender, w.sent_time, w.text, w.reply_to),
         u AS (UPDATE chats SET last_seq = t.seq, last_rev = t.rev, last_activity_at = now()
                 FROM (SELECT m.chat_id, max(m.seq) AS seq, max(m.rev) AS rev FROM m GROUP BY m.chat_id) t
                WHERE chats.chat_id = t.chat_id),
         p AS (UPDATE chat_participants SET last_read_seq = t.seq
                 FROM (SELECT m.chat_id, m.sender, max(m.seq) AS seq FROM m GROUP BY m.chat_id, m.sender) t
                WHERE chat_participants.chat_id = t.chat_id AND chat_participants.user_id = t.sender),
         -- Only members of a group are recorded, as in `send_message`. Named here so that
         -- the outcomes below list them without reading `message_mentions` back.
         mn AS (SELECT m.chat_id, m.seq, mu.user_id, mu.username
                  FROM m JOIN a ON a.message_id = m.message_id AND a.is_group
                  JOIN users mu ON mu.username = ANY (string_to_array(a.mentions, ' '))
                  JOIN chat_participants mp ON mp.chat_id = m.chat_id AND mp.user_id = mu.user_id),
         n AS (INSERT INTO message_mentions (chat_id, seq, user_id) SELECT mn.chat_id, mn.seq, mn.user_id FROM mn)
    SELECT (SELECT count(*) FROM a),
           -- Written: the message as stored, its mentions, the quote of a reply (each
           -- look-up one row by a key, never a join the planner could hash).
           (SELECT array_agg(ROW(a.ord::int, 'sent', m.message_id, m.chat_id, m.seq, m.rev,
                                 (SELECT su.username FROM users su WHERE su.user_id = m.sender), m.sent_time, m.text,
                                 false, false, m.reply_to,
                                 ARRAY(SELECT mn.username FROM mn WHERE mn.chat_id = m.chat_id AND mn.seq = m.seq
                                        ORDER BY mn.username),
                                 a.q_message_id, coalesce((SELECT qu.username FROM users qu WHERE qu.user_id = a.q_sender),
                                                          'Deleted account'),
                                 a.q_text, a.q_deleted_at IS NOT NULL)::send_outcome ORDER BY a.ord)
              FROM m JOIN a ON a.message_id = m.message_id)
      INTO v_accepted, v_sent;
    -- Such a skip (rare: one client_id used in two chats at once) moved the seqs of the
    -- sends after it in its chat: nothing is written, and the batcher writes each send
    -- alone, where a skip leaves no gap (the send is then 'repeated').
    IF coalesce(cardinality(v_sent), 0) < v_accepted AND v_accepted > 1 THEN
        RAISE EXCEPTION 'a client_id of this batch was stored meanwhile by another transaction: write its sends one by one'
              USING ERRCODE = 'unique_violation', CONSTRAINT = 'messages_sender_client_id_key';
    END IF;
    -- Every send written (the common case): nothing to read back.
    IF coalesce(cardinality(v_sent), 0) = cardinality(p_message_ids) THEN
        RETURN QUERY SELECT * FROM unnest(v_sent);
        RETURN;
    END IF;

    -- The others' outcomes, with a fresh snapshot: 000034's read-back for the sends not
    -- written above (a row stored under the send's message id, by a retry's first try,
    -- is 'sent' as before), merged with the written ones by ord.
    RETURN QUERY
    WITH b AS NOT MATERIALIZED (
           SELECT * FROM unnest(p_chat_ids, p_message_ids, p_senders, p_texts, p_client_ids)
                         WITH ORDINALITY AS b(chat_id, message_id, sender, text, client_id, ord)
            WHERE b.ord::int <> ALL (SELECT s.ord FROM unnest(v_sent) s))
    SELECT * FROM unnest(v_sent)
    UNION ALL
    SELECT b.ord::int, 'sent'::text, m.message_id, m.chat_id, m.seq, m.rev, su.username, m.sent_time, m.text, false, false,
           m.reply_to,
           ARRAY(SELECT nu.username FROM message_mentions mm JOIN users nu ON nu.user_id = mm.user_id
                  WHERE mm.chat_id = m.chat_id AND mm.seq = m.seq ORDER BY nu.username),
           q.message_id, coalesce(qu.username, 'Deleted account'), q.text, q.deleted_at IS NOT NULL
      FROM b JOIN messages m ON m.message_id = b.message_id
      JOIN users su ON su.user_id = m.sender
      LEFT JOIN messages q ON q.chat_id = m.chat_id AND q.seq = m.reply_to
      LEFT JOIN users qu ON qu.user_id = q.sender
    UNION ALL
    -- Refused: why, in `NewMessage::refusal`'s order (membership first: someone outside
    -- the chat learns nothing, not even of their own repeat). A repeat is a message
    -- with the client_id stored before or by an earlier send of the batch.
    SELECT b.ord::int,
           CASE WHEN NOT s.member THEN 'not_participant'
                WHEN r.message_id IS NOT NULL THEN 'repeated'
                WHEN NOT s.may THEN 'not_friends'
                WHEN NOT s.valid THEN 'invalid'
                ELSE 'no_such_reply' END,
           r.message_id, r.chat_id, r.seq, r.rev, coalesce(ru.username, 'Deleted account'), r.sent_time, r.text,
           r.edited_at IS NOT NULL, r.deleted_at IS NOT NULL, r.reply_to, ARRAY[]::text[], NULL::uuid, NULL::text,
           NULL::text, NULL::boolean
      FROM b
      CROSS JOIN LATERAL (
           SELECT EXISTS (SELECT 1 FROM chat_participants cp
                           WHERE cp.chat_id = b.chat_id AND cp.user_id = b.sender) AS member,
                  EXISTS (SELECT 1 FROM chats c
                           WHERE c.chat_id = b.chat_id
                             AND (c.is_group OR (
                                  EXISTS (SELECT 1 FROM direct_chats d
                                            JOIN friends f ON f.user1 = d.user_low AND f.user2 = d.user_high
                                           WHERE d.chat_id = c.chat_id)
                                  AND NOT EXISTS (SELECT 1 FROM direct_chats d
                                                   WHERE d.chat_id = c.chat_id
                                                     AND blocked_between(d.user_low, d.user_high))))) AS may,
                  (b.text = btrim(b.text) AND char_length(b.text) BETWEEN 1 AND 4000) AS valid) s
      LEFT JOIN messages r ON s.member AND r.sender = b.sender AND r.client_id = b.client_id
                          AND r.message_id <> ALL (p_message_ids[b.ord::int + 1:])
      LEFT JOIN users ru ON ru.user_id = r.sender
     WHERE NOT EXISTS (SELECT 1 FROM messages w WHERE w.message_id = b.message_id)
     ORDER BY 1;
END
$$;
