DROP TRIGGER users_username_not_held ON users;
DROP FUNCTION users_username_not_held();
DROP TABLE held_usernames;
DROP TABLE recovery_codes;
DROP TRIGGER friends_guard ON friends;
DROP FUNCTION friends_guard();
DROP TRIGGER friend_requests_guard ON friend_requests;
DROP FUNCTION friend_requests_guard();
ALTER TABLE users DROP COLUMN request_policy;
-- send_message and chats_as_seen as before (000006, 000007)
CREATE OR REPLACE VIEW chats_as_seen AS
SELECT p.user_id AS viewer,
       c.chat_id, c.is_group, c.name, c.last_seq, c.last_activity_at,
       p.last_read_seq, p.role,
       o.user_id AS other_id, o.username AS other_name,
       (c.is_group OR EXISTS (SELECT 1 FROM friends f
                               WHERE f.user1 = d.user_low AND f.user2 = d.user_high)) AS can_send
  FROM chat_participants p
  JOIN chats c ON c.chat_id = p.chat_id
  LEFT JOIN direct_chats d ON d.chat_id = c.chat_id
  LEFT JOIN users o ON o.user_id = CASE WHEN d.user_low = p.user_id THEN d.user_high ELSE d.user_low END;
CREATE OR REPLACE FUNCTION send_message(
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
-- Messages of deleted accounts have no sender row; they go before the key returns.
DELETE FROM messages m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = m.sender);
ALTER TABLE messages ADD CONSTRAINT messages_sender_fkey FOREIGN KEY (sender) REFERENCES users (user_id) ON DELETE CASCADE;
DELETE FROM chats WHERE created_by IS NULL;
ALTER TABLE chats DROP CONSTRAINT chats_created_by_fkey;
ALTER TABLE chats ALTER COLUMN created_by SET NOT NULL;
ALTER TABLE chats ADD CONSTRAINT chats_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (user_id) ON DELETE CASCADE;
DROP FUNCTION blocked_between(uuid, uuid);
DROP TABLE blocks;
DROP FUNCTION lock_pair(uuid, uuid);
