-- The chain's lock and its head in one round trip: appends hold the lock until their
-- transaction commits, so every round trip taken under it is a round trip every other audited
-- request waits for.
CREATE FUNCTION audit_log_lock_head(lock_key BIGINT, OUT head_seq BIGINT, OUT head_hash BYTEA)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
END;
$$;
