CREATE OR REPLACE FUNCTION inbox_digests(p_users uuid[])
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
