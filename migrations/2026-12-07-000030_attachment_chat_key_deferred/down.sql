ALTER TABLE attachments ALTER CONSTRAINT attachments_chat_id_fkey NOT DEFERRABLE;
