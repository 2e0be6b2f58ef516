ALTER FUNCTION send_messages(uuid[], uuid[], uuid[], text[], uuid[], bigint[], text[])
    RESET plan_cache_mode;
