CREATE OR REPLACE FUNCTION search_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(lower(public.unaccent('public.unaccent'::regdictionary, t) COLLATE pg_catalog."C.utf8"), 'ς<>', 'σ  ')
$$;
UPDATE messages SET text = text WHERE text ~ '[\u0640\u064B-\u065F\u0670]';
