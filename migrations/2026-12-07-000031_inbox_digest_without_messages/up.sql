-- The sweep's inbox digest wakes a person's streams for a whole re-read of their inbox
-- when it changes. With each chat's `last_seq` in it, every message changed the digest
-- of everyone in the chat, so every 5 s each active person's every stream re-read
-- everything (10,000 streams in `make bench`'s fanout: delivery p99 1.4 s), although
-- a lost message notification is already caught by the sweep's other half: it re-reads
-- the `last_rev` of every chat a stream listens to and signals the ones that moved,
-- which re-reads that chat's item alone. So the digest keeps only what no chat signal
-- carries: membership, read markers, mute, names, requests and settings. A read marker
-- at the chat's end counts as "all read" (-1), not as its seq: a send moves the sender's
-- marker to the end with each message, and the digest must not see that as news.
CREATE OR REPLACE FUNCTION inbox_digests(p_users uuid[])
RETURNS TABLE (user_id uuid, digest text)
LANGUAGE sql STABLE AS $$
    SELECT u.user_id, md5(concat_ws('|',
        (SELECT string_agg(concat_ws(':', c.chat_id,
                                     CASE WHEN p.last_read_seq = c.last_seq THEN -1 ELSE p.last_read_seq END,
                                     COALESCE(p.muted_until > now(), false), c.name,
                                     CASE WHEN o.last_read_seq = c.last_seq THEN -1 ELSE o.last_read_seq END),
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
