//! Sizing from the host and the workload.
//!
//! The container's memory limit is the `--memory` flag, else a quarter of
//! host RAM (at least 1 GB); its CPUs are `--cpus`, else the host's cores;
//! /dev/shm = limit / 8, 128 MB to 1 GB. Those are written into `.env` as
//! numbers. The tuning keys (`TUNED_KEYS`) follow pgtune's formulas for the
//! workload (`PG_WORKLOAD`) applied to the memory limit and CPUs in `.env`
//! (see `tuned_values`); `init` writes them as `auto`, so a change of
//! workload or memory re-derives them, and a number pins one.

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

/// What the server mostly does: chooses pgtune's formulas (the PGTune
/// "leopard" profiles: web application, online transaction processing, data
/// warehouse, mixed, desktop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Web,
    Oltp,
    Dw,
    Mixed,
    Desktop,
}

impl Workload {
    /// The `PG_WORKLOAD` spellings, in the order of the enum.
    pub const NAMES: &'static [&'static str] = &["web", "oltp", "dw", "mixed", "desktop"];

    pub fn parse(name: &str) -> Option<Workload> {
        Some(match name {
            "web" => Workload::Web,
            "oltp" => Workload::Oltp,
            "dw" => Workload::Dw,
            "mixed" => Workload::Mixed,
            "desktop" => Workload::Desktop,
            _ => return None,
        })
    }

    /// max_connections when `PG_MAX_CONNECTIONS` is `auto`.
    pub fn connections(self) -> u64 {
        match self {
            Workload::Web => 200,
            Workload::Oltp => 300,
            Workload::Dw => 40,
            Workload::Mixed => 100,
            Workload::Desktop => 20,
        }
    }
}

/// What the data volume sits on: chooses the planner's cost of a random read
/// and how many reads it may issue ahead (pgtune's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Ssd,
    Hdd,
    San,
}

impl Storage {
    pub fn parse(name: &str) -> Option<Storage> {
        Some(match name {
            "ssd" => Storage::Ssd,
            "hdd" => Storage::Hdd,
            "san" => Storage::San,
            _ => return None,
        })
    }

    /// random_page_cost and effective_io_concurrency.
    fn io(self) -> (&'static str, &'static str) {
        match self {
            Storage::Ssd => ("1.1", "200"),
            Storage::Hdd => ("4", "2"),
            Storage::San => ("1.1", "300"),
        }
    }
}

/// The keys sized from the host (or `init --memory/--cpus`), written into
/// `.env` as numbers.
pub fn host_values(resources: Resources) -> Vec<(&'static str, String)> {
    let limit = resources.memory_mb.max(256);
    vec![
        ("POSTGRES_MEMORY_LIMIT", format!("{limit}MB")),
        ("POSTGRES_CPU_LIMIT", resources.cpus.max(1).to_string()),
        (
            "POSTGRES_SHM_SIZE",
            format!("{}MB", (limit / 8).clamp(128, 1024)),
        ),
    ]
}

/// The tuning keys derived from the memory limit, the CPUs and `PG_WORKLOAD`
/// when `.env` says `auto` (what `init` writes). A number in `.env` pins a key.
pub const TUNED_KEYS: &[&str] = &[
    "PG_MAX_CONNECTIONS",
    "PG_SHARED_BUFFERS",
    "PG_EFFECTIVE_CACHE_SIZE",
    "PG_WORK_MEM",
    "PG_MAINTENANCE_WORK_MEM",
    "PG_WAL_BUFFERS",
    "PG_MIN_WAL_SIZE",
    "PG_MAX_WAL_SIZE",
    "PG_DEFAULT_STATISTICS_TARGET",
    "PG_MAX_WORKER_PROCESSES",
    "PG_MAX_PARALLEL_WORKERS",
    "PG_MAX_PARALLEL_WORKERS_PER_GATHER",
    "PG_MAX_PARALLEL_MAINTENANCE_WORKERS",
    "PG_RANDOM_PAGE_COST",
    "PG_EFFECTIVE_IO_CONCURRENCY",
];

/// The tuned values, by key (every key of `TUNED_KEYS`), for a container of
/// `memory_mb` and `cpus` serving `workload` with `max_connections`:
/// - shared_buffers = memory / 4 (desktop / 16); effective_cache_size = memory * 3 / 4 (desktop / 4);
/// - maintenance_work_mem = memory / 16 (dw / 8), 64 MB to 2 GB;
/// - work_mem = (memory - shared_buffers) / (3 * max_connections) / workers per gather,
///   halved for dw and mixed, a sixth for desktop, at least 4 MB;
/// - wal_buffers = 3% of shared_buffers, 1 MB to 16 MB;
/// - min/max_wal_size: web and mixed 1/4 GB, oltp 2/8 GB, dw 4/16 GB, desktop 100 MB/2 GB
///   (larger for write-heavy work: fewer checkpoints, each spread over 90% of the interval);
/// - default_statistics_target 500 for dw, else 100;
/// - workers per gather = cpus / 2 (at least 1; at most 4 except dw), parallel workers = cpus,
///   max_worker_processes = max(8, cpus + 4) (pg_cron, partman and replication take slots too);
/// - random_page_cost and effective_io_concurrency from `PG_STORAGE`: ssd 1.1 and 200,
///   hdd 4 and 2, san 1.1 and 300.
pub fn tuned_values(
    memory_mb: u64,
    cpus: u32,
    workload: Workload,
    storage: Storage,
    max_connections: u64,
) -> Vec<(&'static str, String)> {
    let (random_page_cost, io_concurrency) = storage.io();
    let limit = memory_mb.max(256);
    let cpus = u64::from(cpus.max(1));
    let per_gather = match workload {
        Workload::Dw => (cpus / 2).max(1),
        _ => (cpus / 2).clamp(1, 4),
    };
    let shared_buffers = match workload {
        Workload::Desktop => limit / 16,
        _ => limit / 4,
    };
    let cache = match workload {
        Workload::Desktop => limit / 4,
        _ => limit * 3 / 4,
    };
    let maintenance = match workload {
        Workload::Dw => limit / 8,
        _ => limit / 16,
    };
    let base_work_mem = (limit - shared_buffers) / (3 * max_connections.max(1)) / per_gather;
    let work_mem = match workload {
        Workload::Web | Workload::Oltp => base_work_mem,
        Workload::Dw | Workload::Mixed => base_work_mem / 2,
        Workload::Desktop => base_work_mem / 6,
    };
    let (min_wal, max_wal) = match workload {
        Workload::Web | Workload::Mixed => (1024, 4096),
        Workload::Oltp => (2048, 8192),
        Workload::Dw => (4096, 16384),
        Workload::Desktop => (100, 2048),
    };
    let statistics = if workload == Workload::Dw { 500 } else { 100 };
    let mb = |n: u64| format!("{n}MB");
    vec![
        ("PG_MAX_CONNECTIONS", max_connections.to_string()),
        ("PG_SHARED_BUFFERS", mb(shared_buffers.max(16))),
        ("PG_EFFECTIVE_CACHE_SIZE", mb(cache)),
        ("PG_WORK_MEM", mb(work_mem.max(4))),
        ("PG_MAINTENANCE_WORK_MEM", mb(maintenance.clamp(64, 2048))),
        (
            "PG_WAL_BUFFERS",
            mb((shared_buffers * 3 / 100).clamp(1, 16)),
        ),
        ("PG_MIN_WAL_SIZE", mb(min_wal)),
        ("PG_MAX_WAL_SIZE", mb(max_wal)),
        ("PG_DEFAULT_STATISTICS_TARGET", statistics.to_string()),
        ("PG_MAX_WORKER_PROCESSES", (cpus + 4).max(8).to_string()),
        ("PG_MAX_PARALLEL_WORKERS", cpus.to_string()),
        ("PG_MAX_PARALLEL_WORKERS_PER_GATHER", per_gather.to_string()),
        (
            "PG_MAX_PARALLEL_MAINTENANCE_WORKERS",
            per_gather.to_string(),
        ),
        ("PG_RANDOM_PAGE_COST", random_page_cost.to_owned()),
        ("PG_EFFECTIVE_IO_CONCURRENCY", io_concurrency.to_owned()),
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
    fn eight_gigabytes_four_cores_web() {
        let values = tuned_values(8192, 4, Workload::Web, Storage::Ssd, 100);
        assert_eq!(value(&values, "PG_SHARED_BUFFERS"), "2048MB");
        assert_eq!(value(&values, "PG_EFFECTIVE_CACHE_SIZE"), "6144MB");
        assert_eq!(value(&values, "PG_MAINTENANCE_WORK_MEM"), "512MB");
        // (8192 - 2048) / 300 / 2 = 10
        assert_eq!(value(&values, "PG_WORK_MEM"), "10MB");
        assert_eq!(value(&values, "PG_WAL_BUFFERS"), "16MB");
        assert_eq!(value(&values, "PG_MAX_WORKER_PROCESSES"), "8");
        assert_eq!(value(&values, "PG_MAX_PARALLEL_WORKERS_PER_GATHER"), "2");
        assert_eq!(value(&values, "PG_MAX_WAL_SIZE"), "4096MB");
    }

    #[test]
    fn each_workload_changes_what_pgtune_changes() {
        let get = |w: Workload, key: &str| {
            value(
                &tuned_values(16384, 16, w, Storage::Ssd, w.connections()),
                key,
            )
        };
        assert_eq!(get(Workload::Dw, "PG_MAX_CONNECTIONS"), "40");
        assert_eq!(get(Workload::Oltp, "PG_MAX_CONNECTIONS"), "300");
        assert_eq!(get(Workload::Dw, "PG_DEFAULT_STATISTICS_TARGET"), "500");
        assert_eq!(get(Workload::Mixed, "PG_DEFAULT_STATISTICS_TARGET"), "100");
        assert_eq!(get(Workload::Dw, "PG_MAINTENANCE_WORK_MEM"), "2048MB");
        assert_eq!(get(Workload::Web, "PG_MAINTENANCE_WORK_MEM"), "1024MB");
        assert_eq!(get(Workload::Dw, "PG_MAX_PARALLEL_WORKERS_PER_GATHER"), "8");
        assert_eq!(
            get(Workload::Web, "PG_MAX_PARALLEL_WORKERS_PER_GATHER"),
            "4"
        );
        assert_eq!(get(Workload::Desktop, "PG_SHARED_BUFFERS"), "1024MB");
        assert_eq!(get(Workload::Oltp, "PG_MAX_WAL_SIZE"), "8192MB");
        assert_eq!(get(Workload::Dw, "PG_MIN_WAL_SIZE"), "4096MB");
        // (16384 - 4096) / (3 * 100) / 4 / 2 = 5 for mixed; web has 200 connections: / 600 / 4 = 5
        assert_eq!(get(Workload::Mixed, "PG_WORK_MEM"), "5MB");
        // dw: (16384 - 4096) / 120 / 8 / 2 = 6
        assert_eq!(get(Workload::Dw, "PG_WORK_MEM"), "6MB");
        for name in Workload::NAMES {
            let workload = Workload::parse(name).unwrap();
            let keys: Vec<&str> = tuned_values(1024, 2, workload, Storage::Hdd, 100)
                .iter()
                .map(|(k, _)| *k)
                .collect();
            assert_eq!(keys, TUNED_KEYS);
        }
    }

    #[test]
    fn storage_sets_the_io_costs() {
        let hdd = tuned_values(4096, 2, Workload::Mixed, Storage::Hdd, 100);
        assert_eq!(value(&hdd, "PG_RANDOM_PAGE_COST"), "4");
        assert_eq!(value(&hdd, "PG_EFFECTIVE_IO_CONCURRENCY"), "2");
        let san = tuned_values(4096, 2, Workload::Mixed, Storage::San, 100);
        assert_eq!(value(&san, "PG_EFFECTIVE_IO_CONCURRENCY"), "300");
    }

    #[test]
    fn small_hosts_get_floors() {
        let values = tuned_values(512, 1, Workload::Mixed, Storage::Ssd, 100);
        assert_eq!(value(&values, "PG_WORK_MEM"), "4MB");
        assert_eq!(value(&values, "PG_MAINTENANCE_WORK_MEM"), "64MB");
        assert_eq!(value(&values, "PG_MAX_PARALLEL_WORKERS_PER_GATHER"), "1");
        let host = host_values(Resources {
            memory_mb: 512,
            cpus: 1,
        });
        assert_eq!(value(&host, "POSTGRES_SHM_SIZE"), "128MB");
    }
}
