-- Files sent with messages (SPEC §8), stored in PostgreSQL so that every instance
-- serves every file. An upload is one transaction: its chunks are written as the
-- multipart body arrives, then its attachment row, then the message (send_message) last,
-- so the chat row is locked only for the send, never while bytes trickle in. Both
-- foreign keys are checked at commit for that order; a dropped upload rolls back whole.

-- A message may now be empty when it carries files (checked at commit, below).
ALTER TABLE messages DROP CONSTRAINT messages_text_length;
ALTER TABLE messages ADD CONSTRAINT messages_text_length CHECK (
    text = btrim(text) AND char_length(text) <= 4000
);

CREATE TABLE attachments (
    attachment_id uuid        PRIMARY KEY,
    message_id    uuid        NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE
                              DEFERRABLE INITIALLY DEFERRED,
    chat_id       uuid        NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    uploader      uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    -- The file's place among the message's files (0-based, in the order sent).
    position      smallint    NOT NULL CHECK (position BETWEEN 0 AND 9),
    -- Sanitised: no path, no control characters (attachments::sanitise_name).
    name          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255
                                              AND name !~ '[\x01-\x1f\x7f/\\]'),
    -- Bytes stored (an image's re-encoded bytes), what the quota counts.
    size          bigint      NOT NULL CHECK (size >= 0),
    kind          text        NOT NULL CHECK (kind IN ('image', 'file')),
    -- What the full file is served as: image/png or image/jpeg for images, else
    -- application/octet-stream (always a download).
    content_type  text        NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'application/octet-stream')),
    sha256        text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- Images only: the re-encoded picture's size and its preview within 800×800.
    width         integer     NULL,
    height        integer     NULL,
    thumbnail     bytea       NULL,
    thumb_type    text        NULL CHECK (thumb_type IN ('image/png', 'image/jpeg')),
    thumb_width   integer     NULL CHECK (thumb_width BETWEEN 1 AND 800),
    thumb_height  integer     NULL CHECK (thumb_height BETWEEN 1 AND 800),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT attachments_message_position_key UNIQUE (message_id, position),
    CONSTRAINT attachments_image_fields CHECK (
        (kind = 'image') = (width IS NOT NULL AND height IS NOT NULL AND thumbnail IS NOT NULL
                            AND thumb_type IS NOT NULL AND thumb_width IS NOT NULL AND thumb_height IS NOT NULL)
        AND (kind = 'image') = (content_type <> 'application/octet-stream')
    )
);
-- The quota sums a person's sizes.
CREATE INDEX attachments_uploader_idx ON attachments (uploader) INCLUDE (size);
CREATE INDEX attachments_chat_idx ON attachments (chat_id);

CREATE TABLE attachment_chunks (
    attachment_id uuid    NOT NULL REFERENCES attachments (attachment_id) ON DELETE CASCADE
                          DEFERRABLE INITIALLY DEFERRED,
    n             integer NOT NULL CHECK (n >= 0),
    bytes         bytea   NOT NULL CHECK (octet_length(bytes) BETWEEN 1 AND 262144),
    PRIMARY KEY (attachment_id, n)
);
-- Uploads are mostly compressed already (photos, archives, PDFs): no compression try.
ALTER TABLE attachment_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- A text message without text must carry at least one file, checked at commit (the
-- files are written before the message row exists in the same transaction). Only on
-- insert: what later edits or deletions do to a message is theirs to rule.
CREATE FUNCTION messages_text_or_files() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM attachments WHERE message_id = NEW.message_id)
       AND EXISTS (SELECT 1 FROM messages WHERE message_id = NEW.message_id) THEN
        RAISE EXCEPTION 'a message without text needs a file'
              USING ERRCODE = 'check_violation', CONSTRAINT = 'messages_text_or_files';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER messages_text_or_files
    AFTER INSERT ON messages DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.text = '' AND NEW.kind = 'text')
    EXECUTE FUNCTION messages_text_or_files();
