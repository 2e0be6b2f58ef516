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
-- A deleted message keeps its row (positions stay gap-free) but not its text. A
-- constraint of its own: `messages_text_length` is attachments' (000024: empty text only
-- with files), which a database may have before this migration runs.
ALTER TABLE messages ADD CONSTRAINT messages_deleted_erased CHECK (
    deleted_at IS NULL OR (text = '' AND edited_at IS NULL)
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

-- The send and the view `chats_as_seen` that use these columns are replaced in
-- 2026-12-07-000025_message_actions_functions, after account safety (000022) replaced
-- them too: this migration only adds tables and columns, so it also runs on a database
-- already past 000022–000024.
