-- kind 'system' lines record membership changes of groups ("alice added bob"); they take
-- a seq like any message so they sit in the timeline and arrive live.
CREATE TABLE messages (
    message_id uuid        PRIMARY KEY,
    chat_id    uuid        NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    seq        bigint      NOT NULL,
    sender     uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    sent_time  timestamptz NOT NULL DEFAULT now(),
    text       text        NOT NULL,
    client_id  uuid        NULL,
    kind       text        NOT NULL DEFAULT 'text',
    CONSTRAINT messages_chat_seq_key UNIQUE (chat_id, seq),
    CONSTRAINT messages_sender_client_id_key UNIQUE (sender, client_id),
    CONSTRAINT messages_seq_positive CHECK (seq > 0),
    CONSTRAINT messages_text_length CHECK (
        text = btrim(text) AND char_length(text) BETWEEN 1 AND 4000
    ),
    CONSTRAINT messages_kind CHECK (kind IN ('text', 'system'))
);
