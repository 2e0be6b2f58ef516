-- Each instance keeps the sessions it loaded in memory (src/auth/session_cache.rs).
-- Every change that can end a session or alter what it holds tells all instances, in
-- the changing transaction itself: a notification is delivered only if and when its
-- transaction commits, and notifications of different transactions arrive in commit
-- order, which is what the cache's sync barrier relies on. A trigger, not the app's
-- code, so that no way of ending a session (logout, "log out others", a password
-- change, recovery, account deletion through the foreign key's cascade, the purge of
-- expired rows, a hand-written DELETE) can forget to say so. The payload is the
-- row's key hash in hex (64 characters). Writes of `last_seen_at` alone (at most once
-- a minute per session) and later expiry times say nothing: neither ends a session.
CREATE FUNCTION sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chaat_session', encode(OLD.key_hash, 'hex'));
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_changed();

CREATE TRIGGER sessions_updated AFTER UPDATE ON sessions
    FOR EACH ROW
    WHEN (OLD.key_hash IS DISTINCT FROM NEW.key_hash
          OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.data IS DISTINCT FROM NEW.data
          OR NEW.expires_at < OLD.expires_at)
    EXECUTE FUNCTION sessions_changed();
