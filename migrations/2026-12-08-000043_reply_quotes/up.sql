-- Issue 19, fifth round: the originals that replies quote, read with a plan made once
-- per connection. As a statement of the app (`seq = ANY($2)`, joined to `users`), it was
-- planned on every call: PostgreSQL counts an array parameter as 10 elements in the
-- generic plan and sees one in a custom plan (a catch-up of one reply), so the custom
-- plan always looked cheaper: 181-188 µs of planning per `mixed` action for 24-71 µs
-- of execution (BENCHMARKS.md, "Issue 19 (fifth round)"). Both plans are the same index
-- scan on `messages_chat_seq_key` and a look-up of the sender; a PL/pgSQL function keeps
-- its statement's plan for the connection, and `force_generic_plan` keeps it generic
-- (as 000040 does for `send_messages`). A deleted account's messages have no sender
-- row: `sender_name` is NULL then, and the app names it.
CREATE FUNCTION reply_quotes(p_chat_id uuid, p_seqs bigint[])
RETURNS TABLE (seq bigint, message_id uuid, sender_name text, text text, deleted boolean)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    SELECT m.seq, m.message_id, u.username, m.text, m.deleted_at IS NOT NULL
      FROM messages m
      LEFT JOIN users u ON u.user_id = m.sender
     WHERE m.chat_id = p_chat_id AND m.seq = ANY (p_seqs);
END
$$;
