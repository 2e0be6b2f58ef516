-- An upload inserts its attachment rows (each referencing the chat) while the file
-- streams in, and only then sends the message, whose `send_message` locks the chat row
-- FOR UPDATE. An immediate foreign key check takes a KEY SHARE lock on the chat at each
-- row, which FOR UPDATE waits for: two uploads of one person into one chat then waited
-- for each other (one holding the chat's KEY SHARE, the other the uploader's row for the
-- quota) and PostgreSQL broke the deadlock with an error. Checked at commit instead,
-- the key lock is taken after the send's own lock in the same transaction.
ALTER TABLE attachments ALTER CONSTRAINT attachments_chat_id_fkey DEFERRABLE INITIALLY DEFERRED;
