-- What one `messages` row costs (issue 19, `rowcost`): the generated `search_vector`
-- is computed by `search_document` on every insert and edit, ~22 µs a message, the
-- dearest part of the row after its indexes. Measured on 20,000 dm-like texts
-- (BENCHMARKS.md "Issue 19, `rowcost`"), two things in it cost more than they do:
--   * `search_fold`'s `translate` with 26 characters to map: PostgreSQL's translate
--     compares every character of the text with each of them (~8 µs a message of 60
--     characters, more than unaccent and lower together). The Arabic marks go with one
--     regex pass instead (one scan, ~0.5 µs), and translate keeps its 3 characters.
--   * `search_document` ran the pairs test, the splitting regexp_replace and a tsvector
--     concatenation on every text; a text with no character of an unspaced script (most
--     messages) needs none of them: one regex test, then `to_tsvector` of the fold.
-- Both give the same results as before for every text (checked on every code point up to
-- U+11170 in runs of seven, and the search tests), so no stored vector is recomputed.

-- Same fold as 000032: unaccent, lower under "C.utf8", the Arabic marks (U+064B–U+065F,
-- U+0670) and the tatweel (U+0640) deleted, ς → σ, < and > → spaces. Still one
-- expression, so it is inlined where it is called.
CREATE OR REPLACE FUNCTION search_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(regexp_replace(lower(public.unaccent('public.unaccent'::regdictionary, t) COLLATE pg_catalog."C.utf8"),
                                    '[\u0640\u064B-\u065F\u0670]', '', 'g'),
                     'ς<>', 'σ  ')
$$;

-- Same document as 000023 (the ranges are UNSPACED of src/domain/search_query.rs), with
-- the common case first: no unspaced character, so nothing to split and no pairs.
CREATE OR REPLACE FUNCTION search_document(t text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
DECLARE
    f text := public.search_fold(t);
    pairs tsvector := '';
BEGIN
    IF f !~ '[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]' THEN
        RETURN to_tsvector('simple', f);
    END IF;
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
