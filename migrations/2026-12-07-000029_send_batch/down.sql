DROP FUNCTION send_messages(uuid[], uuid[], uuid[], text[], uuid[], bigint[], text[]);
