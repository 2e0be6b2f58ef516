-- Safety and control of one's account (SPEC §10, issue 17): blocking, who may send me
-- requests, recovery codes, and deleting an account while its messages stay.

-- Serialises what decides between two people (a block, a new request, a group add):
-- each takes this lock first, so a request or an add racing a block is decided
-- after it, never in between. Key space 17 (the two-key form never meets the
-- migrations' one-key lock).
CREATE FUNCTION lock_pair(a uuid, b uuid) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(17, hashtext(LEAST(a, b)::text || GREATEST(a, b)::text))
$$;

-- `blocker` blocked `blocked`: one row per direction.
CREATE TABLE blocks (
    blocker uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    blocked uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    since   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker, blocked),
    CONSTRAINT blocks_not_self CHECK (blocker <> blocked)
);
CREATE INDEX blocks_blocked_idx ON blocks (blocked, blocker);

-- Whether either of two people blocked the other.
CREATE FUNCTION blocked_between(a uuid, b uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM blocks
                    WHERE (blocker = a AND blocked = b) OR (blocker = b AND blocked = a))
$$;

-- Who may send me friend requests.
ALTER TABLE users ADD COLUMN request_policy text NOT NULL DEFAULT 'everyone'
    CONSTRAINT users_request_policy CHECK (request_policy IN ('everyone', 'shared-groups', 'nobody'));

-- The request statement's own guard (it fires inside the INSERT … ON CONFLICT of
-- models/friend_requests.rs): nobody sends a request across a block, nor against the
-- receiver's policy. A request that accepts the receiver's own pending one is an answer,
-- not a new request: the policy does not apply to it (a block has ended that request).
-- Each statement here takes a fresh snapshot (VOLATILE), after the pair's lock.
CREATE FUNCTION friend_requests_guard() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    policy text;
BEGIN
    PERFORM lock_pair(NEW.from_user, NEW.to_user);
    IF blocked_between(NEW.from_user, NEW.to_user) THEN
        RAISE EXCEPTION 'blocked' USING ERRCODE = 'check_violation', CONSTRAINT = 'friend_requests_blocked';
    END IF;
    SELECT request_policy INTO policy FROM users WHERE user_id = NEW.to_user;
    IF policy <> 'everyone'
       AND NOT EXISTS (SELECT 1 FROM friend_requests r
                        WHERE r.from_user = NEW.to_user AND r.to_user = NEW.from_user AND r.status = 'pending')
       AND (policy = 'nobody' OR NOT EXISTS (
            SELECT 1 FROM chat_participants a
              JOIN chat_participants b ON b.chat_id = a.chat_id AND b.user_id = NEW.to_user
              JOIN chats c ON c.chat_id = a.chat_id AND c.is_group
             WHERE a.user_id = NEW.from_user)) THEN
        RAISE EXCEPTION 'not accepting requests' USING ERRCODE = 'check_violation', CONSTRAINT = 'friend_requests_policy';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER friend_requests_guard BEFORE INSERT ON friend_requests
    FOR EACH ROW EXECUTE FUNCTION friend_requests_guard();

-- No friendship across a block either. An accept racing a block needs no pair lock:
-- the block's update of the pair's requests waits for the accept's row lock, and its
-- later delete of the friendship then sees the accepted one.
CREATE FUNCTION friends_guard() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF blocked_between(NEW.user1, NEW.user2) THEN
        RAISE EXCEPTION 'blocked' USING ERRCODE = 'check_violation', CONSTRAINT = 'friends_blocked';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER friends_guard BEFORE INSERT ON friends
    FOR EACH ROW EXECUTE FUNCTION friends_guard();

-- One-time recovery codes, only their SHA-256 (of the user id and the code: a code has
-- 80 random bits, so a leaked table reveals none). Using one deletes it; regenerating
-- replaces them all.
CREATE TABLE recovery_codes (
    user_id    uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash),
    CONSTRAINT recovery_codes_hash_len CHECK (octet_length(code_hash) = 32)
);

-- Usernames of deleted accounts, held for 30 days. Only a digest of the lower-case
-- name is kept: the table does not name anyone, yet answers "is this name held".
CREATE TABLE held_usernames (
    name_hash  bytea       PRIMARY KEY,
    free_after timestamptz NOT NULL,
    CONSTRAINT held_usernames_hash_len CHECK (octet_length(name_hash) = 32)
);

-- A held name is taken, for every path that creates or renames an account.
CREATE FUNCTION users_username_not_held() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM held_usernames
                WHERE name_hash = sha256(convert_to(lower(NEW.username), 'UTF8')) AND free_after > now()) THEN
        RAISE EXCEPTION 'username held after an account was deleted'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'users_username_key';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER users_username_not_held BEFORE INSERT OR UPDATE OF username ON users
    FOR EACH ROW EXECUTE FUNCTION users_username_not_held();

-- A deleted account's messages stay, with its id as sender and no user row (shown as
-- "Deleted account"); chats it created stay too.
ALTER TABLE messages DROP CONSTRAINT messages_sender_fkey;
ALTER TABLE chats ALTER COLUMN created_by DROP NOT NULL;
ALTER TABLE chats DROP CONSTRAINT chats_created_by_fkey;
ALTER TABLE chats ADD CONSTRAINT chats_created_by_fkey
    FOREIGN KEY (created_by) REFERENCES users (user_id) ON DELETE SET NULL;

-- As in 000007; a direct chat whose other person deleted their account (its
-- direct_chats row went with them) has no other_id and shows "Deleted account".
CREATE OR REPLACE VIEW chats_as_seen AS
SELECT p.user_id AS viewer,
       c.chat_id, c.is_group, c.name, c.last_seq, c.last_activity_at,
       p.last_read_seq, p.role,
       o.user_id AS other_id,
       CASE WHEN c.is_group THEN o.username ELSE COALESCE(o.username, 'Deleted account') END AS other_name,
       (c.is_group OR EXISTS (SELECT 1 FROM friends f
                               WHERE f.user1 = d.user_low AND f.user2 = d.user_high)) AS can_send
  FROM chat_participants p
  JOIN chats c ON c.chat_id = p.chat_id
  LEFT JOIN direct_chats d ON d.chat_id = c.chat_id
  LEFT JOIN users o ON o.user_id = CASE WHEN d.user_low = p.user_id THEN d.user_high ELSE d.user_low END;

-- As in 000006, with one more guard (marked below): no text between two people either of
-- whom blocked the other. A block locks their direct chat's row before it commits, so a
-- send racing it is stored before it or refused.
CREATE OR REPLACE FUNCTION send_message(
    p_chat_id uuid, p_message_id uuid, p_sender uuid, p_text text, p_client_id uuid, p_kind text
) RETURNS TABLE (
    message_id uuid, chat_id uuid, seq bigint, sender uuid, sender_name text,
    sent_time timestamptz, text text, kind text
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM chats WHERE chat_id = p_chat_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH c AS (UPDATE chats SET last_seq = last_seq + 1, last_activity_at = now()
                WHERE chat_id = p_chat_id
                  AND EXISTS (SELECT 1 FROM chat_participants
                               WHERE chat_id = p_chat_id AND user_id = p_sender)
                  AND (is_group OR p_kind <> 'text' OR EXISTS (
                       SELECT 1 FROM direct_chats d
                         JOIN friends f ON f.user1 = d.user_low AND f.user2 = d.user_high
                        WHERE d.chat_id = p_chat_id))
                  -- 000022 account safety: no text across a block.
                  AND (is_group OR p_kind <> 'text' OR NOT EXISTS (
                       SELECT 1 FROM direct_chats d
                        WHERE d.chat_id = p_chat_id AND blocked_between(d.user_low, d.user_high)))
                  AND NOT EXISTS (SELECT 1 FROM messages
                                   WHERE sender = p_sender AND client_id = p_client_id)
               RETURNING last_seq),
         m AS (INSERT INTO messages (message_id, chat_id, seq, sender, text, client_id, kind)
               SELECT p_message_id, p_chat_id, c.last_seq, p_sender, p_text, p_client_id, p_kind FROM c
               RETURNING message_id, chat_id, seq, sender, sent_time, text, kind),
         p AS (UPDATE chat_participants SET last_read_seq = c.last_seq FROM c
                WHERE chat_id = p_chat_id AND user_id = p_sender)
    SELECT m.message_id, m.chat_id, m.seq, m.sender, u.username, m.sent_time, m.text, m.kind
      FROM m JOIN users u ON u.user_id = m.sender;
END
$$;
