-- Server-side session store. The cookie holds a random key; only its SHA-256 is stored,
-- so a leaked table does not hand out live sessions.
CREATE TABLE sessions (
    key_hash     bytea       PRIMARY KEY,
    user_id      uuid        NULL REFERENCES users (user_id) ON DELETE CASCADE,
    data         jsonb       NOT NULL,
    user_agent   text        NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    CONSTRAINT sessions_key_hash_len CHECK (octet_length(key_hash) = 32)
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Fixed-window counters for login/signup throttling, shared by every instance.
-- bucket is e.g. 'login:user:alice' or 'login:addr:127.0.0.1'.
CREATE TABLE auth_throttle (
    bucket       text        PRIMARY KEY,
    window_start timestamptz NOT NULL,
    hits         integer     NOT NULL,
    CONSTRAINT auth_throttle_hits_positive CHECK (hits > 0)
);
CREATE INDEX auth_throttle_window_start_idx ON auth_throttle (window_start);

-- Secrets every instance must share (the session cookie signing key), created by
-- whichever instance starts first.
CREATE TABLE app_secrets (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);
