-- The functions and views of message actions (issue 14) over the columns of 000021,
-- written after account safety (000022) so they carry both: run last, they are the
-- only definitions the app sees.

-- The send of 000022 (with its block guard), now also taking the next rev, an optional
-- reply and the usernames the text mentions (only members of a group are recorded).
-- Its arguments and return type change, so the 6-argument send is dropped: one
-- send_message exists, and every send passes the block guard.
DROP FUNCTION send_message(uuid, uuid, uuid, text, uuid, text);
CREATE FUNCTION send_message(
    p_chat_id uuid, p_message_id uuid, p_sender uuid, p_text text, p_client_id uuid, p_kind text,
    p_reply_to bigint, p_mentions text[]
) RETURNS TABLE (
    message_id uuid, chat_id uuid, seq bigint, rev bigint, sender uuid, sender_name text,
    sent_time timestamptz, text text, kind text, reply_to bigint, mentions text[]
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM chats WHERE chat_id = p_chat_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH c AS (UPDATE chats SET last_seq = last_seq + 1, last_rev = last_rev + 1, last_activity_at = now()
                WHERE chat_id = p_chat_id
                  AND EXISTS (SELECT 1 FROM chat_participants
                               WHERE chat_id = p_chat_id AND user_id = p_sender)
                  AND (is_group OR p_kind <> 'text' OR EXISTS (
                       SELECT 1 FROM direct_chats d
                         JOIN friends f ON f.user1 = d.user_low AND f.user2 = d.user_high
                        WHERE d.chat_id = p_chat_id))
                  -- 000022 account safety: no text across a block.
                  AND (is_group OR p_kind <> 'text' OR NOT EXISTS (
                       SELECT 1 FROM direct_chats d
                        WHERE d.chat_id = p_chat_id AND blocked_between(d.user_low, d.user_high)))
                  AND NOT EXISTS (SELECT 1 FROM messages
                                   WHERE sender = p_sender AND client_id = p_client_id)
               RETURNING last_seq, last_rev, is_group),
         m AS (INSERT INTO messages (message_id, chat_id, seq, rev, sender, text, client_id, kind, reply_to)
               SELECT p_message_id, p_chat_id, c.last_seq, c.last_rev, p_sender, p_text, p_client_id, p_kind, p_reply_to FROM c
               RETURNING message_id, chat_id, seq, rev, sender, sent_time, text, kind, reply_to),
         p AS (UPDATE chat_participants SET last_read_seq = c.last_seq FROM c
                WHERE chat_id = p_chat_id AND user_id = p_sender),
         n AS (INSERT INTO message_mentions (chat_id, seq, user_id)
               SELECT p_chat_id, c.last_seq, u.user_id
                 FROM c JOIN users u ON u.username = ANY (p_mentions)
                 JOIN chat_participants cp ON cp.chat_id = p_chat_id AND cp.user_id = u.user_id
                WHERE c.is_group AND p_kind = 'text'
               RETURNING user_id)
    SELECT m.message_id, m.chat_id, m.seq, m.rev, m.sender, u.username, m.sent_time, m.text, m.kind, m.reply_to,
           ARRAY(SELECT mu.username FROM n JOIN users mu ON mu.user_id = n.user_id ORDER BY mu.username)
      FROM m JOIN users u ON u.user_id = m.sender;
END
$$;

-- The chat as a participant sees it (000022: "Deleted account" for a direct chat whose
-- other person is gone) gains its rev: where a page's event stream starts. Only a
-- column at the end, so the view is replaced in place.
CREATE OR REPLACE VIEW chats_as_seen AS
SELECT p.user_id AS viewer,
       c.chat_id, c.is_group, c.name, c.last_seq, c.last_activity_at,
       p.last_read_seq, p.role,
       o.user_id AS other_id,
       CASE WHEN c.is_group THEN o.username ELSE COALESCE(o.username, 'Deleted account') END AS other_name,
       (c.is_group OR EXISTS (SELECT 1 FROM friends f
                               WHERE f.user1 = d.user_low AND f.user2 = d.user_high)) AS can_send,
       c.last_rev
  FROM chat_participants p
  JOIN chats c ON c.chat_id = p.chat_id
  LEFT JOIN direct_chats d ON d.chat_id = c.chat_id
  LEFT JOIN users o ON o.user_id = CASE WHEN d.user_low = p.user_id THEN d.user_high ELSE d.user_low END;
