DROP FUNCTION reply_quotes(uuid, bigint[]);
