DROP INDEX messages_search_idx;
DROP FUNCTION search_document(text);
DROP FUNCTION search_fold(text);
DROP EXTENSION IF EXISTS unaccent;
