DROP FUNCTION send_messages(uuid[], uuid[], uuid[], text[], uuid[], bigint[], text[]);
ALTER FUNCTION send_messages_in_turn(uuid[], uuid[], uuid[], text[], uuid[], bigint[], text[]) RENAME TO send_messages;
