-- The live sweep's per-person inbox fingerprint (000020) named each chat's `last_seq`:
-- an edit, a deletion or a reaction (SPEC §7: they take a `rev`, not a seq) that was
-- never announced, say the last message edited on an instance whose notification was
-- lost, left the list item's preview stale until the next message. It names each chat's
-- `last_rev` now (every new message takes a rev too), and whom the person blocked
-- (SPEC §10: a block changes their previews, and an open group stream renders a blocked
-- person's messages collapsed, so a lost poke of a block is caught by the sweep too).
CREATE OR REPLACE FUNCTION inbox_digests(p_users uuid[])
RETURNS TABLE (user_id uuid, digest text)
LANGUAGE sql STABLE AS $$
    SELECT u.user_id, md5(concat_ws('|',
        (SELECT string_agg(concat_ws(':', c.chat_id, c.last_rev, p.last_read_seq,
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
        (SELECT concat_ws(':', s.notify, s.notify_previews) FROM users s WHERE s.user_id = u.user_id),
        (SELECT string_agg(b.blocked::text, ',' ORDER BY b.blocked)
           FROM blocks b WHERE b.blocker = u.user_id)))
      FROM unnest(p_users) AS u(user_id)
$$;
