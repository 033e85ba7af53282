//! A container's resource counters read from inside it, without the Docker
//! socket (which no service of the stack gets): the cgroup's CPU time, memory
//! and block I/O (cgroup v2 or v1 files) and the network namespace's
//! `/proc/net/dev`. The dashboard reads its own files directly and
//! postgres's through `core_data_audit.container_files()` (a definer function
//! reading exactly [`FILES`]); the same parser reads both.

use serde::{Deserialize, Serialize};

/// The files read, cgroup v2 first, then v1, then the network counters.
pub const FILES: &[&str] = &[
    "/sys/fs/cgroup/cpu.stat",
    "/sys/fs/cgroup/memory.current",
    "/sys/fs/cgroup/io.stat",
    "/sys/fs/cgroup/cpuacct/cpuacct.usage",
    "/sys/fs/cgroup/memory/memory.usage_in_bytes",
    "/sys/fs/cgroup/blkio/blkio.throttle.io_service_bytes",
    "/proc/net/dev",
];

/// Cumulative counters at one moment (rates come from two samples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// CPU time used by the container's processes, in seconds.
    pub cpu_seconds: f64,
    /// Memory charged to the container (page cache included), in bytes.
    pub memory_bytes: i64,
    pub io_read_bytes: i64,
    pub io_write_bytes: i64,
    /// Bytes received and sent on every interface but loopback.
    pub net_rx_bytes: i64,
    pub net_tx_bytes: i64,
}

/// The sample in `files` (`(path, contents)`; a file that could not be read
/// is `None`). An error when neither cgroup version's CPU file is there.
pub fn parse(files: &[(String, Option<String>)]) -> anyhow::Result<Sample> {
    let file = |path: &str| {
        files
            .iter()
            .find(|(name, _)| name == path)
            .and_then(|(_, text)| text.as_deref())
    };
    let mut sample = Sample::default();
    if let Some(stat) = file("/sys/fs/cgroup/cpu.stat") {
        sample.cpu_seconds = field(stat, "usage_usec") as f64 / 1e6;
        sample.memory_bytes = number(file("/sys/fs/cgroup/memory.current"));
        for line in file("/sys/fs/cgroup/io.stat").unwrap_or_default().lines() {
            for pair in line.split_whitespace().skip(1) {
                match pair.split_once('=') {
                    Some(("rbytes", n)) => sample.io_read_bytes += n.parse::<i64>().unwrap_or(0),
                    Some(("wbytes", n)) => sample.io_write_bytes += n.parse::<i64>().unwrap_or(0),
                    _ => {}
                }
            }
        }
    } else if let Some(usage) = file("/sys/fs/cgroup/cpuacct/cpuacct.usage") {
        sample.cpu_seconds = number(Some(usage)) as f64 / 1e9;
        sample.memory_bytes = number(file("/sys/fs/cgroup/memory/memory.usage_in_bytes"));
        let blkio = file("/sys/fs/cgroup/blkio/blkio.throttle.io_service_bytes");
        for line in blkio.unwrap_or_default().lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [_, op, n] = words.as_slice() {
                match *op {
                    "Read" => sample.io_read_bytes += n.parse::<i64>().unwrap_or(0),
                    "Write" => sample.io_write_bytes += n.parse::<i64>().unwrap_or(0),
                    _ => {}
                }
            }
        }
    } else {
        anyhow::bail!(
            "no cgroup CPU counters (neither /sys/fs/cgroup/cpu.stat nor \
             /sys/fs/cgroup/cpuacct/cpuacct.usage could be read)"
        );
    }
    // `face |bytes packets errs drop fifo frame compressed multicast|bytes packets …`
    for line in file("/proc/net/dev").unwrap_or_default().lines().skip(2) {
        let Some((interface, counters)) = line.split_once(':') else {
            continue;
        };
        if interface.trim() == "lo" {
            continue;
        }
        let numbers: Vec<i64> = counters
            .split_whitespace()
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        if numbers.len() >= 9 {
            sample.net_rx_bytes += numbers[0];
            sample.net_tx_bytes += numbers[8];
        }
    }
    Ok(sample)
}

/// The calling process's own container ([`FILES`] read from its filesystem).
pub fn read_own() -> anyhow::Result<Sample> {
    let files: Vec<(String, Option<String>)> = FILES
        .iter()
        .map(|path| ((*path).to_owned(), std::fs::read_to_string(path).ok()))
        .collect();
    parse(&files)
}

fn number(text: Option<&str>) -> i64 {
    text.and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

/// `name value` lines (cpu.stat).
fn field(text: &str, name: &str) -> i64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:  1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
eth0: 5000      50    0    0    0     0          0         0     7000      70    0    0    0     0       0          0\n";

    fn files(pairs: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
        FILES
            .iter()
            .map(|path| {
                let text = pairs
                    .iter()
                    .find(|(p, _)| p == path)
                    .map(|(_, t)| (*t).to_owned());
                ((*path).to_owned(), text)
            })
            .collect()
    }

    #[test]
    fn cgroup_v2_files_are_read() {
        let sample = parse(&files(&[
            (
                "/sys/fs/cgroup/cpu.stat",
                "usage_usec 2500000\nuser_usec 2000000\n",
            ),
            ("/sys/fs/cgroup/memory.current", "104857600\n"),
            (
                "/sys/fs/cgroup/io.stat",
                "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n",
            ),
            ("/proc/net/dev", NET),
        ]))
        .unwrap();
        assert_eq!(
            sample,
            Sample {
                cpu_seconds: 2.5,
                memory_bytes: 104_857_600,
                io_read_bytes: 4097,
                io_write_bytes: 8194,
                net_rx_bytes: 5000,
                net_tx_bytes: 7000,
            }
        );
    }

    #[test]
    fn cgroup_v1_files_are_read() {
        let sample = parse(&files(&[
            ("/sys/fs/cgroup/cpuacct/cpuacct.usage", "1500000000\n"),
            ("/sys/fs/cgroup/memory/memory.usage_in_bytes", "2048\n"),
            (
                "/sys/fs/cgroup/blkio/blkio.throttle.io_service_bytes",
                "8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Total 300\nTotal 300\n",
            ),
            ("/proc/net/dev", NET),
        ]))
        .unwrap();
        assert_eq!(sample.cpu_seconds, 1.5);
        assert_eq!(sample.memory_bytes, 2048);
        assert_eq!((sample.io_read_bytes, sample.io_write_bytes), (100, 200));
        assert_eq!((sample.net_rx_bytes, sample.net_tx_bytes), (5000, 7000));
    }

    #[test]
    fn no_cgroup_files_is_an_error() {
        assert!(parse(&files(&[("/proc/net/dev", NET)])).is_err());
    }
}
