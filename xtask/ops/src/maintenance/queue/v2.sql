-- Queue schema, version 2: dedup keys, the metrics view and retention.
-- Placeholders as in v1.sql.

-- A job with a dedup key is enqueued once while it is waiting or running
-- (`jobs` holds only those); once done or dead the key is free again.
ALTER TABLE @schema@.jobs ADD COLUMN dedup_key text;
CREATE UNIQUE INDEX jobs_dedup ON @schema@.jobs (queue, dedup_key) WHERE dedup_key IS NOT NULL;

DROP FUNCTION @schema@.enqueue(text, jsonb, int, timestamptz, int);
CREATE FUNCTION @schema@.enqueue(
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

-- Per queue: jobs ready now, scheduled later, running, dead; the age of the
-- oldest ready job; jobs completed in the last minute and hour (throughput).
CREATE VIEW @schema@.metrics AS
WITH names AS (
    SELECT j.queue FROM @schema@.jobs j
    UNION SELECT d.queue FROM @schema@.done d WHERE d.finished_at > now() - interval '1 hour'
    UNION SELECT x.queue FROM @schema@.dead x
    UNION SELECT q.queue FROM @schema@.queues q
)
SELECT n.queue,
    (SELECT count(*) FROM @schema@.jobs j
     WHERE j.queue = n.queue AND j.state = 'ready' AND j.run_at <= now()) AS ready,
    (SELECT count(*) FROM @schema@.jobs j
     WHERE j.queue = n.queue AND j.state = 'ready' AND j.run_at > now()) AS scheduled,
    (SELECT count(*) FROM @schema@.jobs j
     WHERE j.queue = n.queue AND j.state = 'running') AS running,
    (SELECT count(*) FROM @schema@.dead x WHERE x.queue = n.queue) AS dead,
    (SELECT now() - min(j.run_at) FROM @schema@.jobs j
     WHERE j.queue = n.queue AND j.state = 'ready' AND j.run_at <= now()) AS oldest_ready_age,
    (SELECT count(*) FROM @schema@.done d
     WHERE d.queue = n.queue AND d.finished_at > now() - interval '1 minute') AS completed_last_minute,
    (SELECT count(*) FROM @schema@.done d
     WHERE d.queue = n.queue AND d.finished_at > now() - interval '1 hour') AS completed_last_hour
FROM names n;

-- Retention: deletes completed jobs finished more than `p_older_than` ago;
-- returns how many. Dead letters are kept (they need a person).
CREATE FUNCTION @schema@.purge_finished(p_older_than interval) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS @body@
DECLARE
    purged bigint;
BEGIN
    IF p_older_than IS NULL OR p_older_than < '0' THEN
        RAISE EXCEPTION 'purge_finished needs a non-negative interval'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM @schema@.done d WHERE d.finished_at < now() - p_older_than;
    GET DIAGNOSTICS purged = ROW_COUNT;
    RETURN purged;
END
@body@;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @schema@ FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @schema@.enqueue(text, jsonb, int, timestamptz, text, int) TO @producer@;
GRANT SELECT ON @schema@.metrics TO @producer@, @worker@;
