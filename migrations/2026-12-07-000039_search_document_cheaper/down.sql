-- 000032's fold and 000023's document, as they were.
CREATE OR REPLACE FUNCTION search_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(lower(public.unaccent('public.unaccent'::regdictionary, t) COLLATE pg_catalog."C.utf8"),
                     U&'ς<>\064B\064C\064D\064E\064F\0650\0651\0652\0653\0654\0655\0656\0657\0658\0659\065A\065B\065C\065D\065E\065F\0670\0640',
                     'σ  ')
$$;

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
