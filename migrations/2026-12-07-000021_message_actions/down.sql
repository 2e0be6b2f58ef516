DROP TABLE message_mentions;
DROP TABLE message_reactions;
DROP TABLE message_edits;
-- Deleted messages cannot go back to a rule that wants text: they get a placeholder.
ALTER TABLE messages DROP CONSTRAINT messages_deleted_erased;
UPDATE messages SET text = '(deleted)' WHERE deleted_at IS NOT NULL;
ALTER TABLE messages DROP CONSTRAINT messages_system_unchanged;
ALTER TABLE messages DROP CONSTRAINT messages_reply_to_earlier;
ALTER TABLE messages DROP CONSTRAINT messages_reply_to_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_chat_rev_key;
ALTER TABLE messages DROP COLUMN reply_to, DROP COLUMN deleted_at, DROP COLUMN edited_at, DROP COLUMN rev;
ALTER TABLE chats DROP COLUMN last_rev;
