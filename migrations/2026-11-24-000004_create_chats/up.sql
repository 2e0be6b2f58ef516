-- One table for direct and group chats (the phase-2 shape of the design notes).
-- last_seq is the per-chat message counter: a send increments it in the message's
-- transaction, which makes seq gap-free and commit-ordered.
CREATE TABLE chats (
    chat_id          uuid        PRIMARY KEY,
    name             text        NULL,
    is_group         boolean     NOT NULL,
    creation_time    timestamptz NOT NULL DEFAULT now(),
    created_by       uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    last_seq         bigint      NOT NULL DEFAULT 0,
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chats_name CHECK (
        (is_group AND name IS NOT NULL AND char_length(name) BETWEEN 1 AND 80)
        OR (NOT is_group AND name IS NULL)
    ),
    CONSTRAINT chats_last_seq_nonnegative CHECK (last_seq >= 0)
);

-- At most one direct chat per pair: the primary key answers "find the chat of A and B".
CREATE TABLE direct_chats (
    user_low  uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    user_high uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    chat_id   uuid NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    PRIMARY KEY (user_low, user_high),
    CONSTRAINT direct_chats_chat_id_key UNIQUE (chat_id),
    CONSTRAINT direct_chats_ordered CHECK (user_low < user_high)
);

CREATE TABLE chat_participants (
    chat_id       uuid        NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    user_id       uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    joined_at     timestamptz NOT NULL DEFAULT now(),
    role          text        NOT NULL DEFAULT 'member',
    last_read_seq bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id),
    CONSTRAINT chat_participants_role CHECK (role IN ('owner', 'member')),
    CONSTRAINT chat_participants_last_read_nonnegative CHECK (last_read_seq >= 0)
);
CREATE INDEX chat_participants_user_id_idx ON chat_participants (user_id, chat_id);

-- A direct chat has exactly its two people, never a third, even for a raw INSERT:
-- a participant of a non-group chat must be one side of its direct_chats row.
CREATE FUNCTION chat_participants_direct_pair() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM chats c WHERE c.chat_id = NEW.chat_id AND NOT c.is_group)
       AND NOT EXISTS (
           SELECT 1 FROM direct_chats d
           WHERE d.chat_id = NEW.chat_id AND NEW.user_id IN (d.user_low, d.user_high)
       ) THEN
        RAISE EXCEPTION 'a direct chat has exactly its two people'
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'chat_participants_direct_pair';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER chat_participants_direct_pair
    BEFORE INSERT OR UPDATE OF chat_id, user_id ON chat_participants
    FOR EACH ROW EXECUTE FUNCTION chat_participants_direct_pair();
