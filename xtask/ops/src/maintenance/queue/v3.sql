-- Queue schema, version 3: fixes for schemas installed at 1 or 2.
-- Placeholders as in v1.sql.

-- Queue names are NOTIFY channels: PostgreSQL's limit is 63 bytes, not
-- characters (a name of 32 two-byte characters is 64 bytes).
ALTER TABLE @schema@.queues DROP CONSTRAINT queues_queue_check,
    ADD CONSTRAINT queues_queue_check CHECK (octet_length(queue) BETWEEN 1 AND 63);
ALTER TABLE @schema@.jobs DROP CONSTRAINT jobs_queue_check,
    ADD CONSTRAINT jobs_queue_check CHECK (octet_length(queue) BETWEEN 1 AND 63);

-- enqueue as in version 2, refusing a bad queue name with a clear message
-- before it reaches pg_notify.
CREATE OR REPLACE FUNCTION @schema@.enqueue(
    p_queue text,
    p_payload jsonb DEFAULT '{}',
    p_priority int DEFAULT 0,
    p_run_at timestamptz DEFAULT NULL,
    p_dedup_key text DEFAULT NULL,
    p_max_attempts int DEFAULT 5
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS @body@
DECLARE
    new_id bigint;
BEGIN
    IF p_queue IS NULL OR octet_length(p_queue) NOT BETWEEN 1 AND 63 THEN
        RAISE EXCEPTION 'queue name % is % bytes; queue names are 1 to 63 bytes (they are NOTIFY channels)',
            quote_literal(p_queue), coalesce(octet_length(p_queue), 0)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    LOOP
        INSERT INTO @schema@.jobs (queue, payload, priority, run_at, max_attempts, dedup_key)
        VALUES (p_queue, coalesce(p_payload, '{}'), coalesce(p_priority, 0),
                coalesce(p_run_at, now()), coalesce(p_max_attempts, 5), p_dedup_key)
        ON CONFLICT (queue, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
        RETURNING id INTO new_id;
        IF new_id IS NOT NULL THEN
            PERFORM pg_notify(p_queue, new_id::text);
            RETURN new_id;
        END IF;
        -- The key is taken: hand back that job, unless it finished meanwhile (then insert again).
        SELECT j.id INTO new_id FROM @schema@.jobs j
        WHERE j.queue = p_queue AND j.dedup_key = p_dedup_key;
        IF new_id IS NOT NULL THEN
            RETURN new_id;
        END IF;
    END LOOP;
END
@body@;

-- fail as in version 1, with a backoff that cannot overflow: base * 2^(attempt - 1)
-- is compared with the cap in seconds (the exponent itself capped at 60, far
-- past any cap), and only computed as an interval while it is below the cap.
CREATE OR REPLACE FUNCTION @schema@.fail(p_id bigint, p_worker text, p_error text) RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS @body@
DECLARE
    j @schema@.jobs;
    base interval;
    cap interval;
    exponent int;
    delay interval;
    entry jsonb;
BEGIN
    SELECT * INTO j FROM @schema@.jobs c
    WHERE c.id = p_id AND c.state = 'running' AND c.worker = p_worker
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % is not leased to worker %', p_id, p_worker
            USING ERRCODE = 'lock_not_available';
    END IF;
    SELECT q.backoff_base, q.backoff_cap INTO base, cap
    FROM @schema@.queues q WHERE q.queue = j.queue;
    base := coalesce(base, interval '1 second');
    cap := coalesce(cap, interval '1 hour');
    entry := jsonb_build_object('attempt', j.attempts, 'started_at', j.started_at,
                                'failed_at', now(), 'error', coalesce(p_error, ''));
    IF j.attempts >= j.max_attempts THEN
        DELETE FROM @schema@.jobs c WHERE c.id = p_id;
        INSERT INTO @schema@.dead (id, queue, payload, priority, attempts, max_attempts,
                                   last_error, errors, created_at)
        VALUES (j.id, j.queue, j.payload, j.priority, j.attempts, j.max_attempts,
                coalesce(p_error, ''), j.errors || jsonb_build_array(entry), j.created_at);
        RETURN NULL;
    END IF;
    exponent := least(greatest(j.attempts - 1, 0), 60);
    IF extract(epoch FROM base) * power(2::float8, exponent) >= extract(epoch FROM cap) THEN
        delay := cap;
    ELSE
        delay := least(base * power(2::float8, exponent), cap);
    END IF;
    UPDATE @schema@.jobs c
    SET state = 'ready', worker = NULL, lease_until = NULL, run_at = now() + delay,
        errors = c.errors || jsonb_build_array(entry || jsonb_build_object('retry_at', now() + delay))
    WHERE c.id = p_id;
    RETURN now() + delay;
END
@body@;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @schema@ FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @schema@.enqueue(text, jsonb, int, timestamptz, text, int) TO @producer@;
GRANT EXECUTE ON FUNCTION @schema@.fail(bigint, text, text) TO @worker@;
