-- Accounts. Usernames are stored lower-case, so the plain unique constraint is
-- case-insensitive in effect; the check makes a mixed-case insert impossible.
CREATE TABLE users (
    user_id         uuid        PRIMARY KEY,
    username        text        NOT NULL,
    dynamic_salt    text        NOT NULL,
    pwd_hash        text        NOT NULL,
    join_date       timestamptz NOT NULL DEFAULT now(),
    display_picture text        NULL,
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9_.-]{3,32}$')
);

-- Re-encoded pictures live in the database so that every app instance can serve them.
CREATE TABLE display_pictures (
    user_id      uuid        PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    content_type text        NOT NULL,
    bytes        bytea       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT display_pictures_size CHECK (octet_length(bytes) BETWEEN 1 AND 262144),
    CONSTRAINT display_pictures_type CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp'))
);
