DROP FUNCTION inbox_digests(uuid[]);
CREATE OR REPLACE FUNCTION nav_counts(p_user uuid)
RETURNS TABLE (pending_requests bigint, unread_messages bigint)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT count(*) FROM friend_requests
             WHERE to_user = p_user AND status = 'pending'),
           (SELECT COALESCE(sum(c.last_seq - p.last_read_seq), 0)::bigint
              FROM chat_participants p JOIN chats c ON c.chat_id = p.chat_id
             WHERE p.user_id = p_user)
$$;
ALTER TABLE users DROP COLUMN notify, DROP COLUMN notify_previews;
ALTER TABLE chat_participants DROP COLUMN muted_until;
