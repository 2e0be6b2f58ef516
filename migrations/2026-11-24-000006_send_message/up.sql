-- A send in one round trip (BENCHMARKS.md: every statement costs two context switches
-- and a protocol exchange; BEGIN, the lock, the write and COMMIT were four).
--
-- The chat row is locked first: sends to one chat queue there, and membership changes
-- take the same lock. The guarded write is a statement of its own, and a VOLATILE
-- function takes a fresh snapshot for each statement, so the guards see every change
-- committed before the lock was granted: a send racing a removal is never stored after
-- it. No row back means a rule refused the message (not in the chat, a direct chat of
-- people who are no longer friends, or a repeat of the same client_id); the caller asks
-- which. Called outside a transaction the statement is its own transaction.
CREATE FUNCTION send_message(
    p_chat_id uuid, p_message_id uuid, p_sender uuid, p_text text, p_client_id uuid, p_kind text
) RETURNS TABLE (
    message_id uuid, chat_id uuid, seq bigint, sender uuid, sender_name text,
    sent_time timestamptz, text text, kind text
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM chats WHERE chat_id = p_chat_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH c AS (UPDATE chats SET last_seq = last_seq + 1, last_activity_at = now()
                WHERE chat_id = p_chat_id
                  AND EXISTS (SELECT 1 FROM chat_participants
                               WHERE chat_id = p_chat_id AND user_id = p_sender)
                  AND (is_group OR p_kind <> 'text' OR EXISTS (
                       SELECT 1 FROM direct_chats d
                         JOIN friends f ON f.user1 = d.user_low AND f.user2 = d.user_high
                        WHERE d.chat_id = p_chat_id))
                  AND NOT EXISTS (SELECT 1 FROM messages
                                   WHERE sender = p_sender AND client_id = p_client_id)
               RETURNING last_seq),
         m AS (INSERT INTO messages (message_id, chat_id, seq, sender, text, client_id, kind)
               SELECT p_message_id, p_chat_id, c.last_seq, p_sender, p_text, p_client_id, p_kind FROM c
               RETURNING message_id, chat_id, seq, sender, sent_time, text, kind),
         p AS (UPDATE chat_participants SET last_read_seq = c.last_seq FROM c
                WHERE chat_id = p_chat_id AND user_id = p_sender)
    SELECT m.message_id, m.chat_id, m.seq, m.sender, u.username, m.sent_time, m.text, m.kind
      FROM m JOIN users u ON u.user_id = m.sender;
END
$$;
