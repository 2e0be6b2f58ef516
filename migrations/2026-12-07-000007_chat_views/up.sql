-- Two definitions that several queries share, kept in one place (models/mod.rs: raw SQL
-- is never assembled from fragments in Rust). Both are inlined by the planner: a
-- simple view is flattened into the query that reads it, and a one-statement SQL
-- function is expanded where it is called, so they cost nothing over writing them out.

-- Every chat as one of its participants sees it: the row exists only for participants,
-- so reading through it is reading as a participant. For a direct chat, `other_id` and
-- `other_name` are the other person; `can_send` says whether a text may be sent now (a
-- group, or a direct chat of two friends).
CREATE VIEW chats_as_seen AS
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

-- The navigation's badges of one person: incoming pending friend requests, and unread
-- messages over all their chats.
CREATE FUNCTION nav_counts(p_user uuid)
RETURNS TABLE (pending_requests bigint, unread_messages bigint)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT count(*) FROM friend_requests
             WHERE to_user = p_user AND status = 'pending'),
           (SELECT COALESCE(sum(c.last_seq - p.last_read_seq), 0)::bigint
              FROM chat_participants p JOIN chats c ON c.chat_id = p.chat_id
             WHERE p.user_id = p_user)
$$;
