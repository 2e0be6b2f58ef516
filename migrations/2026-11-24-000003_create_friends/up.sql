CREATE TABLE friend_requests (
    request_id   uuid        PRIMARY KEY,
    sent_date    timestamptz NOT NULL DEFAULT now(),
    greeting     text        NOT NULL DEFAULT '',
    status       text        NOT NULL DEFAULT 'pending',
    from_user    uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    to_user      uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    responded_at timestamptz NULL,
    CONSTRAINT friend_requests_greeting_length CHECK (char_length(greeting) <= 200),
    CONSTRAINT friend_requests_status CHECK (status IN ('pending', 'accepted', 'rejected', 'withdrawn')),
    CONSTRAINT friend_requests_not_to_self CHECK (from_user <> to_user),
    CONSTRAINT friend_requests_responded CHECK ((status = 'pending') = (responded_at IS NULL))
);
-- At most one pending request per pair, whichever direction it goes.
CREATE UNIQUE INDEX friend_requests_one_pending_per_pair
    ON friend_requests (LEAST(from_user, to_user), GREATEST(from_user, to_user))
    WHERE status = 'pending';
CREATE INDEX friend_requests_pending_to_idx ON friend_requests (to_user, sent_date) WHERE status = 'pending';
CREATE INDEX friend_requests_pending_from_idx ON friend_requests (from_user, sent_date) WHERE status = 'pending';

-- One row per friendship, user1 < user2, so "are A and B friends" is one index probe.
CREATE TABLE friends (
    id    uuid        PRIMARY KEY,
    user1 uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    user2 uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    since timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT friends_ordered CHECK (user1 < user2),
    CONSTRAINT friends_pair_key UNIQUE (user1, user2)
);
CREATE INDEX friends_user2_idx ON friends (user2);
