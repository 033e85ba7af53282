-- The nightly jobs' functions, installed in every database by
-- `maintenance::jobs::install_functions` (re-run on every `up`: CREATE OR
-- REPLACE). Owned by the superuser, SECURITY DEFINER with a pinned
-- search_path, EXECUTE revoked from PUBLIC and granted to the jobs' role
-- only. @DBLINK@, @SQUEEZE@, @PARTMAN@ and @PGSS@ are the quoted schemas of
-- those extensions in this database (`sql::fill`). `install_functions`
-- refuses a `core_data_maintenance` schema, or a function in it, that a
-- superuser does not own: CREATE OR REPLACE would keep another owner.

CREATE SCHEMA IF NOT EXISTS core_data_maintenance;
COMMENT ON SCHEMA core_data_maintenance IS 'core_data: functions of the nightly pg_cron jobs (cargo xtask cron list)';
REVOKE ALL ON SCHEMA core_data_maintenance FROM PUBLIC;
GRANT USAGE ON SCHEMA core_data_maintenance TO core_data_maintenance;

CREATE OR REPLACE FUNCTION core_data_maintenance.conninfo_quote(value text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT '''' || replace(replace(value, '\', '\\'), '''', '\''') || ''''
$fn$;

-- A libpq connection string back into this database over the socket, as the
-- function's owner (the superuser, by peer authentication), whose session has
-- no statement_timeout and the given lock_timeout: VACUUM cannot run inside a
-- function, so it runs there, one table per statement.
CREATE OR REPLACE FUNCTION core_data_maintenance.loopback(lock_timeout text)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT format('host=%s port=%s dbname=%s user=%s options=%s',
                core_data_maintenance.conninfo_quote(split_part(current_setting('unix_socket_directories'), ',', 1)),
                current_setting('port'),
                core_data_maintenance.conninfo_quote(current_database()),
                core_data_maintenance.conninfo_quote(current_user),
                core_data_maintenance.conninfo_quote(
                  '-c statement_timeout=0 -c lock_timeout=' || lock_timeout))
$fn$;


-- VACUUM (ANALYZE, SKIP_LOCKED) on each user table with at least `min_dead`
-- dead tuples that are at least `min_ratio` of its live plus dead tuples.
-- Returns the tables vacuumed, most dead tuples first.
CREATE OR REPLACE FUNCTION core_data_maintenance.vacuum_dead_tables(min_dead bigint, min_ratio float8)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  target regclass;
  conn text := core_data_maintenance.loopback(current_setting('lock_timeout'));
BEGIN
  FOR target IN
    SELECT s.relid::regclass FROM pg_stat_user_tables s
     WHERE s.n_dead_tup >= min_dead
       AND s.n_dead_tup::float8 / greatest(s.n_live_tup + s.n_dead_tup, 1) >= min_ratio
     ORDER BY s.n_dead_tup DESC
  LOOP
    PERFORM @DBLINK@.dblink_exec(conn, format('VACUUM (ANALYZE, SKIP_LOCKED) %s', target));
    RETURN NEXT target::text;
  END LOOP;
END
$fn$;

-- pg_squeeze targets: registers every user table with a primary key or a
-- replica identity index that is not registered yet (daily at 03:30, as
-- `compact --level 2` registers them; pg_squeeze's scheduler squeezes then
-- when the table's free space warrants it), and removes registrations of
-- tables that no longer exist. Registrations the operator made for existing
-- tables are kept as they are. Returns (added, removed).
CREATE OR REPLACE FUNCTION core_data_maintenance.refresh_squeeze_targets(OUT added integer, OUT removed integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  DELETE FROM @SQUEEZE@.tables t
   WHERE to_regclass(format('%I.%I', t.tabschema, t.tabname)) IS NULL;
  GET DIAGNOSTICS removed = ROW_COUNT;
  INSERT INTO @SQUEEZE@.tables (tabschema, tabname, schedule)
  SELECT n.nspname, c.relname, ROW('{30}', '{3}', NULL, NULL, NULL)::@SQUEEZE@.schedule
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r' AND c.relpersistence = 'p'
     AND @USER_SCHEMA@
     AND n.nspname NOT IN ('squeeze', 'partman', 'cron', 'ag_catalog', 'topology', 'tiger', 'tiger_data')
     AND @NOT_EXTENSION@
     AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisvalid
                 AND (i.indisprimary OR i.indisreplident))
     AND NOT EXISTS (SELECT 1 FROM @SQUEEZE@.tables t
                      WHERE t.tabschema = n.nspname AND t.tabname = c.relname);
  GET DIAGNOSTICS added = ROW_COUNT;
END
$fn$;

-- pg_partman's maintenance of every partition set of this database (the
-- function, not run_maintenance_proc, whose COMMITs fail in a background worker).
CREATE OR REPLACE FUNCTION core_data_maintenance.run_partman()
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM @PARTMAN@.run_maintenance(p_analyze := false);
END
$fn$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA core_data_maintenance FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core_data_maintenance.vacuum_dead_tables(bigint, float8),
  core_data_maintenance.refresh_squeeze_targets(),
  core_data_maintenance.run_partman() TO core_data_maintenance;

-- pg_stat_statements' reset, for the optional `core_data_pgstat_reset` job
-- (MAINTENANCE_PGSTAT_RESET_SCHEDULE, off by default).
CREATE OR REPLACE FUNCTION core_data_maintenance.reset_pg_stat_statements()
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM @PGSS@.pg_stat_statements_reset();
END
$fn$;
REVOKE ALL ON FUNCTION core_data_maintenance.reset_pg_stat_statements() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core_data_maintenance.reset_pg_stat_statements() TO core_data_maintenance;
