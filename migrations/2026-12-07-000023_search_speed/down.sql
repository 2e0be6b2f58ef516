DROP INDEX messages_sender_idx;
DROP INDEX users_username_pattern_idx;
DROP INDEX messages_search_idx;
ALTER TABLE messages DROP COLUMN search_vector;
CREATE INDEX messages_search_idx ON messages USING gin (search_document(text));
-- search_document keeps its schema-qualified call of search_fold: the same function.
