-- Search folds Arabic diacritics too (issue 16: accents never matter, in any script).
-- `unaccent`'s rules have no Arabic: "مَرْحَبًا" (with harakat) was not found by
-- "مرحبا", as most people type it. The fold now also deletes the Arabic marks (tanwin,
-- fatha, damma, kasra, shadda, sukun and the rest of U+064B–U+065F, the superscript
-- alef U+0670) and the tatweel U+0640 (a stretch of the line, not a letter).
-- `translate` deletes the characters of its second argument that have no counterpart in
-- the third: as cheap as before (no regex on a message's insert).
CREATE OR REPLACE FUNCTION search_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(lower(public.unaccent('public.unaccent'::regdictionary, t) COLLATE pg_catalog."C.utf8"),
                     U&'ς<>\064B\064C\064D\064E\064F\0650\0651\0652\0653\0654\0655\0656\0657\0658\0659\065A\065B\065C\065D\065E\065F\0670\0640',
                     'σ  ')
$$;

-- The stored search vectors of messages with such marks are computed again (an update
-- recomputes a generated column; the GIN index follows). Other messages fold as before.
UPDATE messages SET text = text WHERE text ~ '[\u0640\u064B-\u065F\u0670]';
