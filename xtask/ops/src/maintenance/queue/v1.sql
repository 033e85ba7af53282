-- Queue schema, version 1: the tables, the worker API and the two roles' grants.
-- Placeholders (replaced once, by `migrations::render`, never re-scanned):
--   @schema@ the schema, @producer@ / @worker@ the roles, all through quote_ident;
--   @body@ a dollar-quote tag that does not occur in any of those names.
-- Every function is SECURITY DEFINER (owned by the installer), pins
-- search_path to pg_catalog, pg_temp and names every object with its schema.

CREATE SCHEMA @schema@;
REVOKE ALL ON SCHEMA @schema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @schema@ TO @producer@, @worker@;

-- One row per applied migration; the highest is the installed version.
CREATE TABLE @schema@.schema_version (
    version int PRIMARY KEY,
    installed_at timestamptz NOT NULL DEFAULT now()
);

-- Retry settings per queue; a queue without a row uses the defaults.
CREATE TABLE @schema@.queues (
    queue text PRIMARY KEY CHECK (length(queue) BETWEEN 1 AND 63),
    backoff_base interval NOT NULL DEFAULT '1 second' CHECK (backoff_base > '0'),
    backoff_cap interval NOT NULL DEFAULT '1 hour' CHECK (backoff_cap > '0')
);

-- Jobs waiting or running. Finished jobs leave this table (to `done` or
-- `dead`), so its size is the backlog, never the history.
CREATE TABLE @schema@.jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL CHECK (length(queue) BETWEEN 1 AND 63),
    payload jsonb NOT NULL DEFAULT '{}',
    priority int NOT NULL DEFAULT 0,
    run_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'running')),
    attempts int NOT NULL DEFAULT 0,
    max_attempts int NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    worker text,
    lease_until timestamptz,
    started_at timestamptz,
    errors jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'running') = (worker IS NOT NULL AND lease_until IS NOT NULL))
);
CREATE INDEX jobs_ready ON @schema@.jobs (queue, priority DESC, run_at, id) WHERE state = 'ready';
CREATE INDEX jobs_leases ON @schema@.jobs (lease_until) WHERE state = 'running';

-- Completed jobs (the history `purge_finished` trims).
CREATE TABLE @schema@.done (
    id bigint PRIMARY KEY,
    queue text NOT NULL,
    payload jsonb NOT NULL,
    priority int NOT NULL,
    attempts int NOT NULL,
    worker text NOT NULL,
    created_at timestamptz NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX done_finished_at ON @schema@.done (finished_at);

-- Dead letters: jobs that failed `max_attempts` times (or whose leases kept expiring).
CREATE TABLE @schema@.dead (
    id bigint PRIMARY KEY,
    queue text NOT NULL,
    payload jsonb NOT NULL,
    priority int NOT NULL,
    attempts int NOT NULL,
    max_attempts int NOT NULL,
    last_error text NOT NULL,
    errors jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    died_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION @schema@.enqueue(
    p_queue text,
    p_payload jsonb DEFAULT '{}',
    p_priority int DEFAULT 0,
    p_run_at timestamptz DEFAULT NULL,
    p_max_attempts int DEFAULT 5
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS @body@
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO @schema@.jobs (queue, payload, priority, run_at, max_attempts)
    VALUES (p_queue, coalesce(p_payload, '{}'), coalesce(p_priority, 0),
            coalesce(p_run_at, now()), coalesce(p_max_attempts, 5))
    RETURNING id INTO new_id;
    PERFORM pg_notify(p_queue, new_id::text);
    RETURN new_id;
END
@body@;

-- Hands back leases that ran out (their worker died or hung): the job is ready
-- again, or dead when it has used all its attempts. Returns how many.
CREATE FUNCTION @schema@.recover_expired(p_queue text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS @body@
DECLARE
    expired bigint := 0;
    dead_count bigint := 0;
BEGIN
    WITH gone AS (
        DELETE FROM @schema@.jobs j
        WHERE j.id IN (
            SELECT c.id FROM @schema@.jobs c
            WHERE c.state = 'running' AND c.lease_until < now()
              AND c.attempts >= c.max_attempts
              AND (p_queue IS NULL OR c.queue = p_queue)
            FOR UPDATE SKIP LOCKED)
        RETURNING j.*
    )
    INSERT INTO @schema@.dead (id, queue, payload, priority, attempts, max_attempts,
                               last_error, errors, created_at)
    SELECT g.id, g.queue, g.payload, g.priority, g.attempts, g.max_attempts,
           'lease expired (worker ' || g.worker || ')',
           g.errors || jsonb_build_array(jsonb_build_object(
               'attempt', g.attempts, 'started_at', g.started_at, 'failed_at', now(),
               'error', 'lease expired (worker ' || g.worker || ')')),
           g.created_at
    FROM gone g;
    GET DIAGNOSTICS dead_count = ROW_COUNT;
    UPDATE @schema@.jobs j
    SET state = 'ready', worker = NULL, lease_until = NULL,
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'attempt', j.attempts, 'started_at', j.started_at, 'failed_at', now(),
            'error', 'lease expired (worker ' || j.worker || ')'))
    WHERE j.id IN (
        SELECT c.id FROM @schema@.jobs c
        WHERE c.state = 'running' AND c.lease_until < now()
          AND (p_queue IS NULL OR c.queue = p_queue)
        FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS expired = ROW_COUNT;
    RETURN expired + dead_count;
END
@body@;

-- Takes the next ready job of `p_queue` (highest priority, then earliest
-- run_at) with a lease of `p_lease`; no row when there is none. Expired leases
-- of the queue are recovered first, so a dead worker's job comes back here.
CREATE FUNCTION @schema@.dequeue(p_queue text, p_worker text, p_lease interval DEFAULT '30 seconds')
RETURNS TABLE (id bigint, payload jsonb, attempt int, lease_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS @body@
BEGIN
    IF p_worker IS NULL OR p_lease IS NULL OR p_lease <= '0' THEN
        RAISE EXCEPTION 'dequeue needs a worker name and a positive lease'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The common case costs one index probe: recover only when a lease ran out.
    IF EXISTS (SELECT 1 FROM @schema@.jobs c
               WHERE c.state = 'running' AND c.lease_until < now() AND c.queue = p_queue) THEN
        PERFORM @schema@.recover_expired(p_queue);
    END IF;
    RETURN QUERY
    UPDATE @schema@.jobs j
    SET state = 'running', worker = p_worker, attempts = j.attempts + 1,
        lease_until = now() + p_lease, started_at = now()
    WHERE j.id = (
        SELECT c.id FROM @schema@.jobs c
        WHERE c.queue = p_queue AND c.state = 'ready' AND c.run_at <= now()
        ORDER BY c.priority DESC, c.run_at, c.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
    RETURNING j.id, j.payload, j.attempts, j.lease_until;
END
@body@;

-- Finishes a job held by `p_worker`: it moves to `done`. A job whose lease
-- was lost (recovered and taken by another worker) raises, so the caller's
-- transaction (its side effects) rolls back.
CREATE FUNCTION @schema@.complete(p_id bigint, p_worker text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS @body@
BEGIN
    WITH gone AS (
        DELETE FROM @schema@.jobs j
        WHERE j.id = p_id AND j.state = 'running' AND j.worker = p_worker
        RETURNING j.*
    )
    INSERT INTO @schema@.done (id, queue, payload, priority, attempts, worker, created_at, started_at)
    SELECT g.id, g.queue, g.payload, g.priority, g.attempts, g.worker, g.created_at, g.started_at
    FROM gone g;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % is not leased to worker %', p_id, p_worker
            USING ERRCODE = 'lock_not_available',
                  HINT = 'its lease expired and it was recovered; do not commit its effects';
    END IF;
END
@body@;

-- Records a failed attempt. The job runs again after
-- least(backoff_base * 2^(attempt - 1), backoff_cap); once it has used
-- max_attempts it moves to `dead`. Returns the next run_at, NULL when dead.
CREATE FUNCTION @schema@.fail(p_id bigint, p_worker text, p_error text) RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS @body@
DECLARE
    j @schema@.jobs;
    base interval;
    cap interval;
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
    delay := least(base * power(2, j.attempts - 1)::float8, cap);
    UPDATE @schema@.jobs c
    SET state = 'ready', worker = NULL, lease_until = NULL, run_at = now() + delay,
        errors = c.errors || jsonb_build_array(entry || jsonb_build_object('retry_at', now() + delay))
    WHERE c.id = p_id;
    RETURN now() + delay;
END
@body@;

-- Extends the lease of a job `p_worker` holds to now() + p_lease; returns the new end.
CREATE FUNCTION @schema@.extend_lease(p_id bigint, p_worker text, p_lease interval) RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS @body@
DECLARE
    new_until timestamptz;
BEGIN
    UPDATE @schema@.jobs j SET lease_until = now() + p_lease
    WHERE j.id = p_id AND j.state = 'running' AND j.worker = p_worker
    RETURNING j.lease_until INTO new_until;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % is not leased to worker %', p_id, p_worker
            USING ERRCODE = 'lock_not_available';
    END IF;
    RETURN new_until;
END
@body@;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @schema@ FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @schema@.enqueue(text, jsonb, int, timestamptz, int) TO @producer@;
GRANT EXECUTE ON FUNCTION @schema@.dequeue(text, text, interval) TO @worker@;
GRANT EXECUTE ON FUNCTION @schema@.complete(bigint, text) TO @worker@;
GRANT EXECUTE ON FUNCTION @schema@.fail(bigint, text, text) TO @worker@;
GRANT EXECUTE ON FUNCTION @schema@.extend_lease(bigint, text, interval) TO @worker@;
GRANT EXECUTE ON FUNCTION @schema@.recover_expired(text) TO @worker@;
