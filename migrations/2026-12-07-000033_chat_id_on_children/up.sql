-- Issue 20, the path past one primary (docs/scaling.md, "Past one primary"): every row of
-- a chat's content carries the chat's id, and every foreign key between such rows
-- carries it too. On a distributed PostgreSQL (Citus) that shards by `chat_id`, a table
-- without the column cannot be colocated with its chat, and a foreign key without it
-- cannot be checked on one node. Here, on one primary, the composite keys make the
-- database refuse a child whose `chat_id` disagrees with its parent's, so the column is
-- a fact, not a copy that may drift.

-- The children: the column, filled from the parent row, then required.
ALTER TABLE message_edits ADD COLUMN chat_id uuid;
UPDATE message_edits e SET chat_id = m.chat_id FROM messages m WHERE m.message_id = e.message_id;
ALTER TABLE message_edits ALTER COLUMN chat_id SET NOT NULL;

ALTER TABLE message_reactions ADD COLUMN chat_id uuid;
UPDATE message_reactions r SET chat_id = m.chat_id FROM messages m WHERE m.message_id = r.message_id;
ALTER TABLE message_reactions ALTER COLUMN chat_id SET NOT NULL;

ALTER TABLE attachment_chunks ADD COLUMN chat_id uuid;
UPDATE attachment_chunks c SET chat_id = a.chat_id FROM attachments a WHERE a.attachment_id = c.attachment_id;
ALTER TABLE attachment_chunks ALTER COLUMN chat_id SET NOT NULL;

-- The parents' primary keys become (id, chat_id): the key a child's composite foreign key
-- points at, with no index more on `messages` (a send writes the same number of index
-- entries as before; docs/scaling.md has the measurement against an added unique pair).
-- The id stays the leading column, so everything that finds a row by its id alone (a
-- download's `attachments::chat_of`, the search walking message ids newest first) uses
-- the same index as before. What is given up: the database no longer refuses the same
-- id in two chats (ids are UUIDv7 minted by the app; a sharded table cannot promise
-- more). The foreign keys that use the old keys go first and come back composite.
ALTER TABLE message_edits DROP CONSTRAINT message_edits_message_id_fkey;
ALTER TABLE message_reactions DROP CONSTRAINT message_reactions_message_id_fkey;
ALTER TABLE attachments DROP CONSTRAINT attachments_message_id_fkey;
ALTER TABLE attachment_chunks DROP CONSTRAINT attachment_chunks_attachment_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_pkey;
ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (message_id, chat_id);
ALTER TABLE attachments DROP CONSTRAINT attachments_pkey;
ALTER TABLE attachments ADD CONSTRAINT attachments_pkey PRIMARY KEY (attachment_id, chat_id);

-- The children's keys carry the chat too (a sharded table's keys must), after the id.
ALTER TABLE message_edits DROP CONSTRAINT message_edits_pkey;
ALTER TABLE message_edits ADD CONSTRAINT message_edits_pkey PRIMARY KEY (message_id, chat_id, replaced_rev);
ALTER TABLE message_reactions DROP CONSTRAINT message_reactions_pkey;
ALTER TABLE message_reactions ADD CONSTRAINT message_reactions_pkey PRIMARY KEY (message_id, chat_id, emoji, user_id);
ALTER TABLE attachment_chunks DROP CONSTRAINT attachment_chunks_pkey;
ALTER TABLE attachment_chunks ADD CONSTRAINT attachment_chunks_pkey PRIMARY KEY (attachment_id, chat_id, n);

-- The same rules as before (cascade with the parent; files' keys checked at commit, as
-- an upload writes chunks, then the file, then the message), now on the pair: a child
-- naming another chat than its parent's is refused.
ALTER TABLE message_edits ADD CONSTRAINT message_edits_message_fkey
    FOREIGN KEY (message_id, chat_id) REFERENCES messages (message_id, chat_id) ON DELETE CASCADE;
ALTER TABLE message_reactions ADD CONSTRAINT message_reactions_message_fkey
    FOREIGN KEY (message_id, chat_id) REFERENCES messages (message_id, chat_id) ON DELETE CASCADE;
ALTER TABLE attachments ADD CONSTRAINT attachments_message_fkey
    FOREIGN KEY (message_id, chat_id) REFERENCES messages (message_id, chat_id) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE attachment_chunks ADD CONSTRAINT attachment_chunks_attachment_fkey
    FOREIGN KEY (attachment_id, chat_id) REFERENCES attachments (attachment_id, chat_id) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED;
