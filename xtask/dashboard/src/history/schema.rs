//! The history tables, created at start with `CREATE TABLE IF NOT EXISTS` by
//! the role that owns the schema (`up` creates the schema; the service its
//! tables). Sizes are captured less often than statements (see `capture`).

/// The statements creating the tables, in order.
pub(crate) const DDL: &str = "
CREATE TABLE IF NOT EXISTS core_data_dashboard.captures (
    id bigserial PRIMARY KEY,
    taken_at timestamptz NOT NULL DEFAULT now(),
    -- pg_stat_statements_info.stats_reset at the capture
    stats_reset timestamptz,
    -- whether relation sizes were captured too
    with_sizes boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS captures_taken_at ON core_data_dashboard.captures (taken_at);
CREATE TABLE IF NOT EXISTS core_data_dashboard.statements (
    dbid oid NOT NULL,
    userid oid NOT NULL,
    queryid bigint NOT NULL,
    database text NOT NULL,
    username text NOT NULL,
    query text NOT NULL,
    last_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dbid, userid, queryid)
);
CREATE TABLE IF NOT EXISTS core_data_dashboard.statement_deltas (
    capture_id bigint NOT NULL REFERENCES core_data_dashboard.captures (id) ON DELETE CASCADE,
    dbid oid NOT NULL,
    userid oid NOT NULL,
    queryid bigint NOT NULL,
    calls bigint NOT NULL,
    exec_ms double precision NOT NULL,
    rows bigint NOT NULL,
    -- true when the counters went down (a reset or an eviction): the delta
    -- is then the counters since that reset
    after_reset boolean NOT NULL DEFAULT false,
    PRIMARY KEY (capture_id, dbid, userid, queryid)
);
CREATE INDEX IF NOT EXISTS statement_deltas_query
    ON core_data_dashboard.statement_deltas (queryid, dbid, userid);
CREATE TABLE IF NOT EXISTS core_data_dashboard.database_sizes (
    capture_id bigint NOT NULL REFERENCES core_data_dashboard.captures (id) ON DELETE CASCADE,
    database text NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (capture_id, database)
);
CREATE TABLE IF NOT EXISTS core_data_dashboard.relation_sizes (
    capture_id bigint NOT NULL REFERENCES core_data_dashboard.captures (id) ON DELETE CASCADE,
    database text NOT NULL,
    schema_name text NOT NULL,
    relation text NOT NULL,
    kind \"char\" NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (capture_id, database, schema_name, relation)
);
CREATE TABLE IF NOT EXISTS core_data_dashboard.container_samples (
    capture_id bigint NOT NULL REFERENCES core_data_dashboard.captures (id) ON DELETE CASCADE,
    container text NOT NULL,
    -- cumulative counters of the container (history::containers)
    cpu_seconds double precision NOT NULL,
    memory_bytes bigint NOT NULL,
    io_read_bytes bigint NOT NULL,
    io_write_bytes bigint NOT NULL,
    net_rx_bytes bigint NOT NULL,
    net_tx_bytes bigint NOT NULL,
    PRIMARY KEY (capture_id, container)
);
";

/// Creates the tables that are missing.
pub(crate) fn ensure(client: &mut postgres::Client) -> anyhow::Result<()> {
    client.batch_execute(DDL).map_err(|error| {
        anyhow::anyhow!(
            "failed to create the history tables in schema `core_data_dashboard`: {}; `cargo \
             xtask up` creates the schema owned by the dashboard's role",
            crate::db::message(&error)
        )
    })
}
