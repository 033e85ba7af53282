//! Sizing memory and parallelism from the host (or `init --memory/--cpus`).
//!
//! The formulas follow pgtune's "web/OLTP" profile, applied to the container's
//! memory limit rather than the host's RAM:
//! - memory limit: the `--memory` flag, else a quarter of host RAM (min 1 GB);
//! - shared_buffers = limit / 4; effective_cache_size = limit * 3 / 4;
//! - maintenance_work_mem = limit / 16, at most 2 GB;
//! - work_mem = (limit - shared_buffers) / (3 * max_connections) / max(1, workers per gather),
//!   at least 4 MB;
//! - wal_buffers = shared_buffers * 3 / 100, between 1 MB and 16 MB;
//! - /dev/shm = limit / 8, between 128 MB and 1 GB;
//! - CPUs: the `--cpus` flag, else the host's cores; workers = cpus, per gather = cpus / 2
//!   (at least 1), max_worker_processes = max(8, cpus + 4) (pg_cron, partman and
//!   logical replication take slots too).

/// What the host (or the operator) offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub memory_mb: u64,
    pub cpus: u32,
}

impl Resources {
    /// Reads `/proc/meminfo` and the available parallelism; a quarter of RAM
    /// is the default budget so a laptop stays usable.
    pub fn from_host() -> Resources {
        let total_mb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("MemTotal:"))
                    .and_then(|line| line.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map_or(4096, |kb| kb / 1024);
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        Resources {
            memory_mb: (total_mb / 4).max(1024),
            cpus,
        }
    }
}

/// The sized values, by configuration key.
pub fn sized_values(resources: Resources, max_connections: u64) -> Vec<(&'static str, String)> {
    let limit = resources.memory_mb.max(256);
    let cpus = u64::from(resources.cpus.max(1));
    let per_gather = (cpus / 2).max(1);
    let shared_buffers = limit / 4;
    let work_mem = ((limit - shared_buffers) / (3 * max_connections.max(1)) / per_gather).max(4);
    let mb = |n: u64| format!("{n}MB");
    vec![
        ("POSTGRES_MEMORY_LIMIT", mb(limit)),
        ("POSTGRES_CPU_LIMIT", cpus.to_string()),
        ("POSTGRES_SHM_SIZE", mb((limit / 8).clamp(128, 1024))),
        ("PG_SHARED_BUFFERS", mb(shared_buffers)),
        ("PG_EFFECTIVE_CACHE_SIZE", mb(limit * 3 / 4)),
        ("PG_WORK_MEM", mb(work_mem)),
        ("PG_MAINTENANCE_WORK_MEM", mb((limit / 16).clamp(64, 2048))),
        (
            "PG_WAL_BUFFERS",
            mb((shared_buffers * 3 / 100).clamp(1, 16)),
        ),
        ("PG_MAX_WORKER_PROCESSES", (cpus + 4).max(8).to_string()),
        ("PG_MAX_PARALLEL_WORKERS", cpus.to_string()),
        ("PG_MAX_PARALLEL_WORKERS_PER_GATHER", per_gather.to_string()),
        (
            "PG_MAX_PARALLEL_MAINTENANCE_WORKERS",
            per_gather.to_string(),
        ),
    ]
}

/// The default runtime UID/GID: the invoking user's, so secret files it owns
/// (mode 0600) are readable by the server; 999 when run as root, in which case
/// `init` hands the secret files to 999.
pub fn default_ids() -> (u32, u32) {
    let (uid, gid) = current_ids();
    if uid == 0 {
        (999, 999)
    } else {
        (uid, gid)
    }
}

/// The effective UID and GID of this process, read from `/proc/self/status`.
pub fn current_ids() -> (u32, u32) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(2))
            .and_then(|id| id.parse().ok())
            .unwrap_or(0)
    };
    (field("Uid:"), field("Gid:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(values: &[(&str, String)], key: &str) -> String {
        values.iter().find(|(k, _)| *k == key).unwrap().1.clone()
    }

    #[test]
    fn eight_gigabytes_four_cores() {
        let values = sized_values(
            Resources {
                memory_mb: 8192,
                cpus: 4,
            },
            100,
        );
        assert_eq!(value(&values, "PG_SHARED_BUFFERS"), "2048MB");
        assert_eq!(value(&values, "PG_EFFECTIVE_CACHE_SIZE"), "6144MB");
        assert_eq!(value(&values, "PG_MAINTENANCE_WORK_MEM"), "512MB");
        // (8192 - 2048) / 300 / 2 = 10
        assert_eq!(value(&values, "PG_WORK_MEM"), "10MB");
        assert_eq!(value(&values, "PG_WAL_BUFFERS"), "16MB");
        assert_eq!(value(&values, "POSTGRES_SHM_SIZE"), "1024MB");
        assert_eq!(value(&values, "PG_MAX_WORKER_PROCESSES"), "8");
        assert_eq!(value(&values, "PG_MAX_PARALLEL_WORKERS_PER_GATHER"), "2");
    }

    #[test]
    fn small_hosts_get_floors() {
        let values = sized_values(
            Resources {
                memory_mb: 512,
                cpus: 1,
            },
            100,
        );
        assert_eq!(value(&values, "PG_WORK_MEM"), "4MB");
        assert_eq!(value(&values, "POSTGRES_SHM_SIZE"), "128MB");
        assert_eq!(value(&values, "PG_MAINTENANCE_WORK_MEM"), "64MB");
        assert_eq!(value(&values, "PG_MAX_PARALLEL_WORKERS_PER_GATHER"), "1");
    }
}
