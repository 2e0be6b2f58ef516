-- Messages people can change, answer and react to (SPEC §7, issue 14).
--
-- A second per-chat counter: `seq` stays the gap-free position of messages; `rev`
-- counts every new message AND every change to one (edit, deletion, reaction), taken
-- under the chat row's lock in the change's own transaction, so it is gap-free and in
-- commit order too. `messages.rev` is the rev of the message's latest change: the event
-- stream's cursor is a rev, and "what changed after rev r" is one index range.
ALTER TABLE chats ADD COLUMN last_rev bigint NOT NULL DEFAULT 0;
UPDATE chats SET last_rev = last_seq;

ALTER TABLE messages
    ADD COLUMN rev        bigint      NULL,
    ADD COLUMN edited_at  timestamptz NULL,
    ADD COLUMN deleted_at timestamptz NULL,
    ADD COLUMN reply_to   bigint      NULL;
-- Until now every message was its own last change.
UPDATE messages SET rev = seq;
ALTER TABLE messages ALTER COLUMN rev SET NOT NULL;
ALTER TABLE messages ADD CONSTRAINT messages_chat_rev_key UNIQUE (chat_id, rev);
-- A reply names an earlier message of the same chat: the key makes another chat's
-- seq (or one that does not exist) impossible, whatever the Rust side checks.
ALTER TABLE messages ADD CONSTRAINT messages_reply_to_fkey
    FOREIGN KEY (chat_id, reply_to) REFERENCES messages (chat_id, seq);
ALTER TABLE messages ADD CONSTRAINT messages_reply_to_earlier CHECK (reply_to < seq);
-- A deleted message keeps its row (positions stay gap-free) but not its text.
ALTER TABLE messages DROP CONSTRAINT messages_text_length;
ALTER TABLE messages ADD CONSTRAINT messages_text_length CHECK (
    CASE WHEN deleted_at IS NULL THEN text = btrim(text) AND char_length(text) BETWEEN 1 AND 4000
         ELSE text = '' AND edited_at IS NULL END
);
-- System lines are written by the app and never change.
ALTER TABLE messages ADD CONSTRAINT messages_system_unchanged CHECK (
    kind = 'text' OR (edited_at IS NULL AND deleted_at IS NULL)
);

-- The earlier texts of an edited message: each row is the text an edit replaced, keyed
-- by the rev of that edit (so oldest first is rev order). Erased with the message.
CREATE TABLE message_edits (
    message_id   uuid        NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
    replaced_rev bigint      NOT NULL,
    text         text        NOT NULL,
    written_at   timestamptz NOT NULL,
    PRIMARY KEY (message_id, replaced_rev)
);

-- One row per person and emoji on a message; toggled. At most 20 distinct emoji per
-- message, counted under the chat row's lock that every change takes.
CREATE TABLE message_reactions (
    message_id uuid        NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
    emoji      text        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    reacted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, emoji, user_id),
    CONSTRAINT message_reactions_emoji_length CHECK (octet_length(emoji) BETWEEN 1 AND 64)
);

-- Who a group message mentions (`@username` of a member when it was written or last
-- edited). "A mention of me is unread" is a row here after my read marker.
CREATE TABLE message_mentions (
    chat_id uuid   NOT NULL,
    seq     bigint NOT NULL,
    user_id uuid   NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, chat_id, seq),
    FOREIGN KEY (chat_id, seq) REFERENCES messages (chat_id, seq) ON DELETE CASCADE
);
CREATE INDEX message_mentions_message_idx ON message_mentions (chat_id, seq);

-- The send (migration 000006), now also taking the next rev, an optional reply and the
-- usernames the text mentions (only members of a group are recorded). Its return type
-- changes, so it is dropped and created again rather than replaced.
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

-- The chat as a participant sees it (migration 000007) gains its rev: where a page's
-- event stream starts. Only a column at the end, so the view is replaced in place.
CREATE OR REPLACE VIEW chats_as_seen AS
SELECT p.user_id AS viewer,
       c.chat_id, c.is_group, c.name, c.last_seq, c.last_activity_at,
       p.last_read_seq, p.role,
       o.user_id AS other_id, o.username AS other_name,
       (c.is_group OR EXISTS (SELECT 1 FROM friends f
                               WHERE f.user1 = d.user_low AND f.user2 = d.user_high)) AS can_send,
       c.last_rev
  FROM chat_participants p
  JOIN chats c ON c.chat_id = p.chat_id
  LEFT JOIN direct_chats d ON d.chat_id = c.chat_id
  LEFT JOIN users o ON o.user_id = CASE WHEN d.user_low = p.user_id THEN d.user_high ELSE d.user_low END;
