DROP FUNCTION send_message(uuid, uuid, uuid, text, uuid, text);
