DROP TRIGGER messages_text_or_files ON messages;
DROP FUNCTION messages_text_or_files();
DROP TABLE attachment_chunks;
DROP TABLE attachments;
DELETE FROM messages WHERE text = '';
ALTER TABLE messages DROP CONSTRAINT messages_text_length;
ALTER TABLE messages ADD CONSTRAINT messages_text_length CHECK (
    text = btrim(text) AND char_length(text) BETWEEN 1 AND 4000
);
