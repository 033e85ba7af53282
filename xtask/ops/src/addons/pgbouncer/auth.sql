-- PgBouncer's auth_query target (profile `pgbouncer`), in database `postgres`.
-- Filled by addons::pgbouncer::auth: @SCHEMA@, @ROLE@ (quoted identifiers).
-- PgBouncer's documented pattern: a SECURITY DEFINER function owned by a
-- superuser that reads pg_authid, with its search_path pinned, executable only
-- by the auth role. It answers only for roles that may log in now, and never
-- for a superuser, a role that bypasses row security or may replicate, or one
-- of the platform's own `core_data_` logins: those connect to postgres directly,
-- where pg_hba keeps the service logins to the compose network.
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;
REVOKE ALL ON SCHEMA @SCHEMA@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @SCHEMA@ TO @ROLE@;
CREATE OR REPLACE FUNCTION @SCHEMA@.lookup(p_username text, OUT username text, OUT password text)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $lookup$
    SELECT a.rolname::text, a.rolpassword
      FROM pg_catalog.pg_authid AS a
     WHERE a.rolname = p_username
       AND a.rolcanlogin
       AND NOT a.rolsuper
       AND NOT a.rolbypassrls
       AND NOT a.rolreplication
       AND a.rolname NOT LIKE 'core\_data\_%'
       AND (a.rolvaliduntil IS NULL OR a.rolvaliduntil > pg_catalog.now())
$lookup$;
REVOKE ALL ON FUNCTION @SCHEMA@.lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @SCHEMA@.lookup(text) TO @ROLE@;
ALTER ROLE @ROLE@ SET default_transaction_read_only = on;
ALTER ROLE @ROLE@ SET statement_timeout = '5s';
