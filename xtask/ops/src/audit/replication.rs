//! `audit replication`: replication slots (`pg_replication_slots`, readable
//! by every role) with the WAL each retains, and connected standbys
//! (`pg_stat_replication`, whose details `pg_monitor` may read) with their
//! replay lag. Cluster-wide: a logical slot is reported under its database.

use anyhow::Context;

use super::{Audit, Finding, Report, Severity};

const MB: f64 = 1024.0 * 1024.0;

/// One replication slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub name: String,
    /// `physical` or `logical`.
    pub kind: String,
    pub database: Option<String>,
    pub active: bool,
    /// `reserved`, `extended`, `unreserved`, `lost`, or none (never reserved WAL).
    pub wal_status: Option<String>,
    /// Bytes of WAL between the slot's `restart_lsn` and the current position.
    pub retained: Option<f64>,
    /// When its last consumer went away (PostgreSQL 17's `inactive_since`).
    pub inactive_since: Option<String>,
}

/// The findings for one slot: `lost` is critical; an inactive slot holding
/// WAL and a slot holding more than `limit_mb` are warnings; else Info.
pub fn check_slot(slot: &Slot, limit_mb: i64) -> Vec<Finding> {
    let name = slot.name.as_str();
    let db = slot.database.as_deref();
    let retained = slot.retained.unwrap_or(0.0);
    let mb = retained / MB;
    let status = slot.wal_status.as_deref().unwrap_or("none");
    let finding = |check: &str, severity: Severity, detail: String| {
        Finding::new(db, name, check, severity, detail).with_value(retained)
    };
    let drop_hint = format!(
        "`SELECT pg_drop_replication_slot('{}')` if nothing uses it",
        name.replace('\'', "''")
    );
    let mut findings = Vec::new();
    if status == "lost" {
        findings.push(finding(
            "slot-lost",
            Severity::Critical,
            format!(
                "{} slot `{name}` lost WAL its consumer still needed (wal_status `lost`): the \
                 consumer cannot catch up and must be rebuilt; {drop_hint}",
                slot.kind
            ),
        ));
    }
    if !slot.active && retained > 0.0 {
        findings.push(finding(
            "inactive-slot",
            Severity::Warning,
            format!(
                "{} slot `{name}` has no consumer{} and retains {mb:.1} MB of WAL, which grows \
                 until the disk fills; {drop_hint}",
                slot.kind,
                slot.inactive_since
                    .as_ref()
                    .map(|since| format!(" since {since}"))
                    .unwrap_or_default()
            ),
        ));
    }
    if mb > limit_mb as f64 {
        findings.push(finding(
            "slot-retains-wal",
            Severity::Warning,
            format!(
                "{} slot `{name}` retains {mb:.1} MB of WAL, over {limit_mb} MB \
                 (AUDIT_SLOT_RETAINED_MB); its consumer lags or is gone",
                slot.kind
            ),
        ));
    }
    if findings.is_empty() {
        findings.push(finding(
            "slot",
            Severity::Info,
            format!(
                "{} slot `{name}`, {}, wal_status {status}, retains {mb:.1} MB of WAL",
                slot.kind,
                if slot.active { "active" } else { "inactive" }
            ),
        ));
    }
    findings
}

/// One connected standby (or other WAL receiver).
#[derive(Debug, Clone, PartialEq)]
pub struct Standby {
    pub name: String,
    pub address: Option<String>,
    pub state: Option<String>,
    pub sync_state: Option<String>,
    /// Replay lag in seconds (none when idle and caught up).
    pub replay_lag: Option<f64>,
}

pub fn check_standby(standby: &Standby, limit_seconds: i64) -> Finding {
    let object = match &standby.address {
        Some(address) => format!("{} ({address})", standby.name),
        None => standby.name.clone(),
    };
    let lag = standby.replay_lag.unwrap_or(0.0);
    let state = format!(
        "{}, {}",
        standby.state.as_deref().unwrap_or("?"),
        standby.sync_state.as_deref().unwrap_or("?")
    );
    let finding = if lag > limit_seconds as f64 {
        Finding::new(
            None,
            object,
            "standby-lag",
            Severity::Warning,
            format!(
                "standby ({state}) replays {lag:.1} s behind, over {limit_seconds} s \
                 (AUDIT_REPLICATION_LAG_SECONDS); check its disk, network and load"
            ),
        )
    } else {
        Finding::new(
            None,
            object,
            "standby",
            Severity::Info,
            format!("standby ({state}), replay lag {lag:.1} s"),
        )
    };
    finding.with_value(lag)
}

/// The current WAL position, on a primary or a standby.
const CURRENT_LSN: &str =
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END";

fn slots(client: &mut postgres::Client) -> anyhow::Result<Vec<Slot>> {
    let rows = client
        .query(
            &format!(
                "SELECT slot_name::text, slot_type, database::text, active, wal_status, \
                        pg_wal_lsn_diff({CURRENT_LSN}, restart_lsn)::float8, inactive_since::text \
                 FROM pg_catalog.pg_replication_slots ORDER BY slot_name"
            ),
            &[],
        )
        .context("failed to read `pg_replication_slots`")?;
    rows.iter()
        .map(|row| {
            Ok(Slot {
                name: row.try_get(0)?,
                kind: row.try_get(1)?,
                database: row.try_get(2)?,
                active: row.try_get(3)?,
                wal_status: row.try_get(4)?,
                retained: row.try_get(5)?,
                inactive_since: row.try_get(6)?,
            })
        })
        .collect()
}

fn standbys(client: &mut postgres::Client) -> anyhow::Result<Vec<Standby>> {
    let rows = client
        .query(
            "SELECT coalesce(nullif(application_name, ''), 'pid ' || pid), client_addr::text, \
                    state, sync_state, extract(epoch FROM replay_lag)::float8 \
             FROM pg_catalog.pg_stat_replication ORDER BY 1",
            &[],
        )
        .context("failed to read `pg_stat_replication`")?;
    rows.iter()
        .map(|row| {
            Ok(Standby {
                name: row.try_get(0)?,
                address: row.try_get(1)?,
                state: row.try_get(2)?,
                sync_state: row.try_get(3)?,
                replay_lag: row.try_get(4)?,
            })
        })
        .collect()
}

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("replication");
    let mut client = audit.connect("postgres")?;
    let slots = slots(&mut client)?;
    let standbys = standbys(&mut client)?;
    for slot in &slots {
        for finding in check_slot(slot, audit.thresholds.slot_retained_mb) {
            report.push(finding);
        }
    }
    for standby in &standbys {
        report.push(check_standby(
            standby,
            audit.thresholds.replication_lag_seconds,
        ));
    }
    report.notes.push(format!(
        "{} replication slot(s), {} connected standby(s); an inactive slot retaining any WAL is \
         a finding, an active one over {} MB (AUDIT_SLOT_RETAINED_MB)",
        slots.len(),
        standbys.len(),
        audit.thresholds.slot_retained_mb
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checks;

    fn slot(active: bool, status: &str, retained_mb: f64) -> Slot {
        Slot {
            name: "audit_slot".to_owned(),
            kind: "physical".to_owned(),
            database: None,
            active,
            wal_status: Some(status.to_owned()),
            retained: Some(retained_mb * MB),
            inactive_since: None,
        }
    }

    #[test]
    fn slots_by_activity_retained_wal_and_status() {
        assert_eq!(
            checks(&check_slot(&slot(true, "reserved", 10.0), 1024)),
            [("slot", Severity::Info)]
        );
        assert_eq!(
            checks(&check_slot(&slot(false, "reserved", 0.5), 1024)),
            [("inactive-slot", Severity::Warning)]
        );
        assert_eq!(
            checks(&check_slot(&slot(true, "extended", 2048.0), 1024)),
            [("slot-retains-wal", Severity::Warning)]
        );
        let mut lost = slot(false, "lost", 0.0);
        lost.retained = None;
        assert_eq!(
            checks(&check_slot(&lost, 1024)),
            [("slot-lost", Severity::Critical)]
        );
    }

    #[test]
    fn standbys_warn_over_the_lag_limit() {
        let mut s = Standby {
            name: "replica".to_owned(),
            address: Some("172.30.0.5".to_owned()),
            state: Some("streaming".to_owned()),
            sync_state: Some("async".to_owned()),
            replay_lag: None,
        };
        assert_eq!(check_standby(&s, 300).severity, Severity::Info);
        s.replay_lag = Some(301.0);
        let f = check_standby(&s, 300);
        assert_eq!(
            (f.check.as_str(), f.severity),
            ("standby-lag", Severity::Warning)
        );
        assert_eq!(f.object, "replica (172.30.0.5)");
    }
}
