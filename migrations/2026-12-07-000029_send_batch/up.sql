-- Group commit of sends (issue 19): the sends an instance gathered while its previous
-- commit was in flight, written by ONE statement (so one transaction, one commit, one
-- WAL flush). Each send is 000025's `send_message` (same guards: the sender takes part,
-- a direct chat's pair are friends and neither blocked the other, no earlier message of
-- the sender has this client_id, a reply names an earlier message of the chat), but a
-- refused send gets its own outcome row and the others are written: a refusal never
-- fails the batch. `send_message` stays for sends with files and system lines.
--
-- p_mentions[i]: the lower-case usernames message i mentions, separated by spaces
-- (usernames have none); only members of a group are recorded, as in `send_message`.
--
-- One row per send, in the order given (`ord`, 1-based), `outcome` one of:
--   sent             written; the message's columns, its mentions, the quote of a reply
--   repeated         the sender's earlier message with this client_id (nothing written)
--   not_participant  the sender is not in the chat (or it does not exist)
--   not_friends      a direct chat whose pair are no longer friends, or one blocked the other
--   no_such_reply    reply_to is no message of this chat
--   invalid          the text breaks `messages_text_length` (the app never sends one;
--                    refused here so that it cannot fail the others' commit)
CREATE FUNCTION send_messages(
    p_chat_ids uuid[], p_message_ids uuid[], p_senders uuid[], p_texts text[], p_client_ids uuid[],
    p_reply_tos bigint[], p_mentions text[]
) RETURNS TABLE (
    ord int, outcome text, message_id uuid, chat_id uuid, seq bigint, rev bigint, sender_name text,
    sent_time timestamptz, text text, edited boolean, deleted boolean, reply_to bigint, mentions text[],
    quote_message_id uuid, quote_sender_name text, quote_text text, quote_deleted boolean
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    -- Every chat of the batch, locked before anything is written and in one fixed order
    -- (by id, the order an account deletion locks its groups in): two batches (of two
    -- instances) cannot deadlock. Each chat's sends then take its next seq and rev in
    -- the order given.
    PERFORM 1 FROM chats WHERE chat_id = ANY (p_chat_ids) ORDER BY chat_id FOR UPDATE;
    FOR i IN 1 .. coalesce(array_length(p_chat_ids, 1), 0) LOOP
        -- Each statement here has a fresh snapshot: it sees every membership, friendship
        -- and block committed before the lock was granted, and the sends before it.
        RETURN QUERY
        WITH g AS (SELECT c.chat_id, c.last_seq + 1 AS next_seq, c.last_rev + 1 AS next_rev, c.is_group
                     FROM chats c
                    WHERE c.chat_id = p_chat_ids[i]
                      AND EXISTS (SELECT 1 FROM chat_participants cp
                                   WHERE cp.chat_id = c.chat_id AND cp.user_id = p_senders[i])
                      AND (c.is_group OR (
                           EXISTS (SELECT 1 FROM direct_chats d
                                     JOIN friends f ON f.user1 = d.user_low AND f.user2 = d.user_high
                                    WHERE d.chat_id = c.chat_id)
                           AND NOT EXISTS (SELECT 1 FROM direct_chats d
                                            WHERE d.chat_id = c.chat_id AND blocked_between(d.user_low, d.user_high))))
                      AND NOT EXISTS (SELECT 1 FROM messages e
                                       WHERE e.sender = p_senders[i] AND e.client_id = p_client_ids[i])
                      AND (p_reply_tos[i] IS NULL OR EXISTS (
                           SELECT 1 FROM messages r WHERE r.chat_id = c.chat_id AND r.seq = p_reply_tos[i]))
                      AND p_texts[i] = btrim(p_texts[i]) AND char_length(p_texts[i]) BETWEEN 1 AND 4000),
             -- The chat's counters move only when the row went in: a client_id that
             -- another transaction (a send of the same person to another chat) stored
             -- meanwhile is waited for and then skipped, never a unique violation that
             -- would fail the whole batch.
             m AS (INSERT INTO messages AS w (message_id, chat_id, seq, rev, sender, text, client_id, kind, reply_to)
                   SELECT p_message_ids[i], g.chat_id, g.next_seq, g.next_rev, p_senders[i], p_texts[i],
                          p_client_ids[i], 'text', p_reply_tos[i]
                     FROM g
                   ON CONFLICT (sender, client_id) DO NOTHING
                   RETURNING w.message_id, w.chat_id, w.seq, w.rev, w.sender, w.sent_time, w.text, w.reply_to),
             u AS (UPDATE chats SET last_seq = m.seq, last_rev = m.rev, last_activity_at = now()
                     FROM m WHERE chats.chat_id = m.chat_id),
             p AS (UPDATE chat_participants SET last_read_seq = m.seq
                     FROM m WHERE chat_participants.chat_id = m.chat_id AND chat_participants.user_id = m.sender),
             n AS (INSERT INTO message_mentions (chat_id, seq, user_id)
                   SELECT m.chat_id, m.seq, mu.user_id
                     FROM m JOIN g ON g.is_group
                     JOIN users mu ON mu.username = ANY (string_to_array(p_mentions[i], ' '))
                     JOIN chat_participants mp ON mp.chat_id = m.chat_id AND mp.user_id = mu.user_id
                   RETURNING user_id)
        SELECT i, 'sent'::text, m.message_id, m.chat_id, m.seq, m.rev, su.username, m.sent_time, m.text, false, false, m.reply_to,
               ARRAY(SELECT nu.username FROM n JOIN users nu ON nu.user_id = n.user_id ORDER BY nu.username),
               q.message_id, coalesce(qu.username, 'Deleted account'), q.text, q.deleted_at IS NOT NULL
          FROM m JOIN users su ON su.user_id = m.sender
          LEFT JOIN messages q ON q.chat_id = m.chat_id AND q.seq = m.reply_to
          LEFT JOIN users qu ON qu.user_id = q.sender;
        IF NOT FOUND THEN
            -- Why nothing was written, in `NewMessage::refusal`'s order: membership first
            -- (someone outside the chat learns nothing, not even of their own repeat).
            RETURN QUERY
            SELECT i,
                   CASE WHEN NOT s.member THEN 'not_participant'
                        WHEN r.message_id IS NOT NULL THEN 'repeated'
                        WHEN NOT s.may THEN 'not_friends'
                        WHEN NOT s.valid THEN 'invalid'
                        ELSE 'no_such_reply' END,
                   r.message_id, r.chat_id, r.seq, r.rev, coalesce(ru.username, 'Deleted account'), r.sent_time, r.text,
                   r.edited_at IS NOT NULL, r.deleted_at IS NOT NULL, r.reply_to, ARRAY[]::text[], NULL::uuid, NULL::text, NULL::text, NULL::boolean
              FROM (SELECT EXISTS (SELECT 1 FROM chat_participants cp
                                    WHERE cp.chat_id = p_chat_ids[i] AND cp.user_id = p_senders[i]) AS member,
                           EXISTS (SELECT 1 FROM chats c
                                    WHERE c.chat_id = p_chat_ids[i]
                                      AND (c.is_group OR (
                                           EXISTS (SELECT 1 FROM direct_chats d
                                                     JOIN friends f ON f.user1 = d.user_low AND f.user2 = d.user_high
                                                    WHERE d.chat_id = c.chat_id)
                                           AND NOT EXISTS (SELECT 1 FROM direct_chats d
                                                            WHERE d.chat_id = c.chat_id
                                                              AND blocked_between(d.user_low, d.user_high))))) AS may,
                           (p_texts[i] = btrim(p_texts[i]) AND char_length(p_texts[i]) BETWEEN 1 AND 4000) AS valid) s
              LEFT JOIN messages r ON s.member AND r.sender = p_senders[i] AND r.client_id = p_client_ids[i]
              LEFT JOIN users ru ON ru.user_id = r.sender;
        END IF;
    END LOOP;
END
$$;
