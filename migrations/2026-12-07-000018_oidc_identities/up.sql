-- Sign in with an OpenID Connect provider (SPEC 11). A provider account is the pair
-- (issuer, subject); it is linked to one Chaat account, and an account has at most one
-- link per issuer. Accounts made through a provider have no password until they set one.
ALTER TABLE users ALTER COLUMN pwd_hash DROP NOT NULL;

CREATE TABLE oidc_identities (
    issuer    text        NOT NULL,
    subject   text        NOT NULL,
    user_id   uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    linked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject),
    CONSTRAINT oidc_identities_one_per_issuer UNIQUE (user_id, issuer),
    CONSTRAINT oidc_identities_issuer_length CHECK (char_length(issuer) BETWEEN 1 AND 2048),
    CONSTRAINT oidc_identities_subject_length CHECK (char_length(subject) BETWEEN 1 AND 255)
);
