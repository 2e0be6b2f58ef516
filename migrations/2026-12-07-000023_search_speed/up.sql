-- Search at speed (issue 16, SPEC §9 p95 ≤ 50 ms). Each message's search document is
-- STORED beside its text, as a generated column: PostgreSQL computes it in the
-- message's own transaction (insert or edit), so a message is searchable the moment its
-- send is acknowledged, and a search tests a stored vector (~1 µs) instead of folding
-- the text again (`search_document`, tens of µs) for every row it looks at. The GIN
-- index is over the column; the column's own statistics (most common lexemes) tell the
-- planner a common word from a rare one.

-- The same function, with `search_fold` named with its schema: a generated column is
-- computed again by a restore (pg_dump runs with an empty search path).
CREATE OR REPLACE FUNCTION search_document(t text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
DECLARE
    f text := public.search_fold(t);
    pairs tsvector := '';
BEGIN
    IF f ~ '[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]{2}' THEN
        SELECT string_agg('''' || substr(f, i, 2) || ''':' || least(i, 16383), ' ')::tsvector INTO pairs
          FROM generate_series(1, char_length(f) - 1) AS i
         WHERE substr(f, i, 2) ~ '^[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]{2}$';
    END IF;
    RETURN to_tsvector('simple', regexp_replace(f,
               '([\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]+)',
               ' \1 ', 'g')) || pairs;
END
$$;

-- Every message, system lines too (the queries keep `kind = 'text'`), so the column is
-- never NULL.
ALTER TABLE messages ADD COLUMN search_vector tsvector NOT NULL GENERATED ALWAYS AS (search_document(text)) STORED;

DROP INDEX messages_search_idx;
CREATE INDEX messages_search_idx ON messages USING gin (search_vector);

-- People by username prefix (`LIKE 'ali%'`, /friends and /search): an index whose
-- order is the bytes' order serves a prefix under any database collation.
CREATE INDEX users_username_pattern_idx ON users (username text_pattern_ops);

-- `from:someone` (with or without words): that person's messages newest first, walked
-- on this index until the page is full (models/search.rs writes one sender as an
-- equality for it).
CREATE INDEX messages_sender_idx ON messages (sender, message_id);
