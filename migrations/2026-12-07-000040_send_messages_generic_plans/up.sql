-- Issue 19, `mixed`: `send_messages` (000034) plans its statements once per connection,
-- never once per call. PL/pgSQL caches each statement's plan, but for a statement with
-- parameters PostgreSQL chooses, call by call, between a generic plan and a custom one
-- made for the arguments, and keeps making custom plans while their estimated cost
-- stays below the generic plan's. The generic plan counts each `unnest` of an array
-- argument as 10 rows; a custom plan sees the real length. With a batch of one or two
-- sends (a quiet chat, every reply of the `mixed` scenario) the custom plan looks seven
-- times cheaper (152 against 1,084 for the outcomes read-back), so the read-back was
-- planned on every call: 1.4-1.5 ms of planning on a quiet backend (3.6 ms under load)
-- for 0.2-0.3 ms of execution, and the same plan shape (index lookups by id either
-- way; EXPLAIN ANALYZE in BENCHMARKS.md, "Issue 19, `mixed`"). Big batches (`dm`) had
-- already gone generic. Forcing the generic plan for the function's statements keeps
-- their plans cached whatever the batch's size.
ALTER FUNCTION send_messages(uuid[], uuid[], uuid[], text[], uuid[], bigint[], text[])
    SET plan_cache_mode = force_generic_plan;
