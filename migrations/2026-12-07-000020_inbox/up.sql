-- The live inbox (SPEC §6): mute, notification settings, badges that leave muted chats
-- out, and a per-person digest the live sweep compares to catch lost notifications.

-- Until when a participant muted the chat: NULL is not muted, 9999-01-01 is "always".
-- A mute that ran out is simply in the past (nothing to clean up).
ALTER TABLE chat_participants ADD COLUMN muted_until timestamptz;

-- Browser notifications are opt-in; previews (the message's text) are on by default.
ALTER TABLE users ADD COLUMN notify boolean NOT NULL DEFAULT false,
                  ADD COLUMN notify_previews boolean NOT NULL DEFAULT true;

-- The navigation's badges: unread messages count only in chats that are not muted now.
CREATE OR REPLACE FUNCTION nav_counts(p_user uuid)
RETURNS TABLE (pending_requests bigint, unread_messages bigint)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT count(*) FROM friend_requests
             WHERE to_user = p_user AND status = 'pending'),
           (SELECT COALESCE(sum(c.last_seq - p.last_read_seq), 0)::bigint
              FROM chat_participants p JOIN chats c ON c.chat_id = p.chat_id
             WHERE p.user_id = p_user
               AND (p.muted_until IS NULL OR p.muted_until <= now()))
$$;

-- One short fingerprint per person of everything their inbox shows: each chat's end,
-- their read marker, the other person's read marker (direct chats), whether it is muted
-- now, its name; their pending requests both ways; their notification settings. The
-- live sweep reads it for everyone holding a stream on an instance (one statement) and
-- wakes the streams of those whose fingerprint changed, so a lost notification delays
-- an inbox event but never loses it. Never stored.
CREATE FUNCTION inbox_digests(p_users uuid[])
RETURNS TABLE (user_id uuid, digest text)
LANGUAGE sql STABLE AS $$
    SELECT u.user_id, md5(concat_ws('|',
        (SELECT string_agg(concat_ws(':', c.chat_id, c.last_seq, p.last_read_seq,
                                     COALESCE(p.muted_until > now(), false), c.name, o.last_read_seq),
                           ',' ORDER BY c.chat_id)
           FROM chat_participants p
           JOIN chats c ON c.chat_id = p.chat_id
           LEFT JOIN chat_participants o ON NOT c.is_group AND o.chat_id = p.chat_id AND o.user_id <> p.user_id
          WHERE p.user_id = u.user_id),
        (SELECT string_agg(r.request_id::text, ',' ORDER BY r.request_id)
           FROM friend_requests r WHERE r.to_user = u.user_id AND r.status = 'pending'),
        (SELECT string_agg(r.request_id::text, ',' ORDER BY r.request_id)
           FROM friend_requests r WHERE r.from_user = u.user_id AND r.status = 'pending'),
        (SELECT concat_ws(':', s.notify, s.notify_previews) FROM users s WHERE s.user_id = u.user_id)))
      FROM unnest(p_users) AS u(user_id)
$$;
