-- Back to 000032: single-column keys, children without `chat_id`.
ALTER TABLE attachment_chunks DROP CONSTRAINT attachment_chunks_attachment_fkey;
ALTER TABLE attachments DROP CONSTRAINT attachments_message_fkey;
ALTER TABLE message_reactions DROP CONSTRAINT message_reactions_message_fkey;
ALTER TABLE message_edits DROP CONSTRAINT message_edits_message_fkey;

ALTER TABLE attachment_chunks DROP CONSTRAINT attachment_chunks_pkey;
ALTER TABLE attachment_chunks ADD CONSTRAINT attachment_chunks_pkey PRIMARY KEY (attachment_id, n);
ALTER TABLE message_reactions DROP CONSTRAINT message_reactions_pkey;
ALTER TABLE message_reactions ADD CONSTRAINT message_reactions_pkey PRIMARY KEY (message_id, emoji, user_id);
ALTER TABLE message_edits DROP CONSTRAINT message_edits_pkey;
ALTER TABLE message_edits ADD CONSTRAINT message_edits_pkey PRIMARY KEY (message_id, replaced_rev);

ALTER TABLE attachments DROP CONSTRAINT attachments_pkey;
ALTER TABLE attachments ADD CONSTRAINT attachments_pkey PRIMARY KEY (attachment_id);
ALTER TABLE messages DROP CONSTRAINT messages_pkey;
ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (message_id);

ALTER TABLE attachment_chunks DROP COLUMN chat_id;
ALTER TABLE message_reactions DROP COLUMN chat_id;
ALTER TABLE message_edits DROP COLUMN chat_id;

ALTER TABLE attachment_chunks ADD CONSTRAINT attachment_chunks_attachment_id_fkey
    FOREIGN KEY (attachment_id) REFERENCES attachments (attachment_id) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE attachments ADD CONSTRAINT attachments_message_id_fkey
    FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE message_reactions ADD CONSTRAINT message_reactions_message_id_fkey
    FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE;
ALTER TABLE message_edits ADD CONSTRAINT message_edits_message_id_fkey
    FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE;
