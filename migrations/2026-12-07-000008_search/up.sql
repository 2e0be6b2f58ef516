-- Message search (SPEC §9). The index is an expression index over the message's text,
-- kept by PostgreSQL in the message's own transaction: a message is searchable the
-- moment its send is acknowledged. Nothing is stored beside the text.
CREATE EXTENSION IF NOT EXISTS unaccent;

-- Case and accents folded the same way for the index and for every query, in any
-- locale: unaccent (named with its schema, so the result never depends on the search
-- path: safe to declare IMMUTABLE) strips accents (é → e, Greek tonos, ß → ss), then
-- lower() under the glibc collation "C.utf8" folds every script (the private cluster is
-- `--no-locale`, where plain lower() folds ASCII only), and a Greek final sigma becomes
-- σ (lower('Σ') is σ, wherever it stands). `<` and `>` become spaces: the text-search
-- parser takes `<…>` for an HTML tag and drops it with everything between (`x<y and
-- y>z` would lose "y and y", `<script>…</script>` its content).
CREATE FUNCTION search_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(lower(public.unaccent('public.unaccent'::regdictionary, t) COLLATE pg_catalog."C.utf8"), 'ς<>', 'σ  ')
$$;

-- What the index holds for a message: its folded words (the `simple` configuration: no
-- stemming, no stop words, any language), with every run of a script written without
-- spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) split from its
-- neighbours, plus each such run's overlapping pairs of characters ("東京都" → 東京, 京都)
-- at their character offsets, so a query of 2+ such characters is a phrase of its pairs:
-- found anywhere inside a run, never across two runs. `src/domain/search_query.rs`
-- (UNSPACED) lists the same ranges; a test keeps them equal. Its COST tells the
-- planner that computing it for a row is dear (tens of microseconds, like reading a
-- page), so a query walks messages testing each text only when the word is common.
-- PL/pgSQL rather than SQL: a SQL function that cannot be inlined (it has a FROM) is
-- planned again in every statement that calls it, i.e. every insert; PL/pgSQL keeps
-- its plans for the session (16 µs a message instead of 74 µs, measured on 20,000).
CREATE FUNCTION search_document(t text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
DECLARE
    f text := search_fold(t);
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

-- Every message, system lines too (the query keeps `kind = 'text'`): PostgreSQL reads
-- the statistics of an index expression only from an index without a WHERE, and the
-- planner needs them to know a common word from a rare one (models/search.rs).
CREATE INDEX messages_search_idx ON messages USING gin (search_document(text));
