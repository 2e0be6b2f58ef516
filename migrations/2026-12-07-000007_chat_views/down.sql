DROP FUNCTION nav_counts(uuid);
DROP VIEW chats_as_seen;
