//! The containers' resource counters in the history: each capture samples
//! the dashboard's own container (its cgroup files) and postgres's (through
//! `core_data_audit.container_files()`, as the dashboard's role), with
//! `core_data_ops::dashboard::container_stats`. The service has no Docker
//! socket, so the other containers of the stack are not sampled.

use core_data_ops::dashboard::container_stats::{self, Sample};

/// The containers sampled, by compose service.
pub(crate) const SAMPLED: &[&str] = &["postgres", "dashboard"];

/// A sample of each container in [`SAMPLED`] that could be read; what could
/// not is said on stderr (the capture goes on without it).
pub(crate) fn sample(client: &mut postgres::Client) -> Vec<(&'static str, Sample)> {
    let mut samples = Vec::new();
    let postgres = client
        .query(
            "SELECT path, contents FROM core_data_audit.container_files()",
            &[],
        )
        .map_err(anyhow::Error::from)
        .and_then(|rows| {
            let files: Vec<(String, Option<String>)> =
                rows.iter().map(|row| (row.get(0), row.get(1))).collect();
            container_stats::parse(&files)
        });
    match postgres {
        Ok(sample) => samples.push(("postgres", sample)),
        Err(error) => eprintln!("core-data-dashboard: postgres's counters: {error:#}"),
    }
    match container_stats::read_own() {
        Ok(sample) => samples.push(("dashboard", sample)),
        Err(error) => eprintln!("core-data-dashboard: its own counters: {error:#}"),
    }
    samples
}

/// Inserts `samples` for capture `id`.
pub(crate) fn insert(
    tx: &mut postgres::Transaction<'_>,
    id: i64,
    samples: &[(&'static str, Sample)],
) -> anyhow::Result<()> {
    for (container, s) in samples {
        tx.execute(
            "INSERT INTO core_data_dashboard.container_samples \
             (capture_id, container, cpu_seconds, memory_bytes, io_read_bytes, io_write_bytes, \
              net_rx_bytes, net_tx_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &id,
                container,
                &s.cpu_seconds,
                &s.memory_bytes,
                &s.io_read_bytes,
                &s.io_write_bytes,
                &s.net_rx_bytes,
                &s.net_tx_bytes,
            ],
        )?;
    }
    Ok(())
}

/// One container's samples over the kept history: (epoch, sample), in time order.
pub(crate) fn read(
    client: &mut postgres::Client,
    container: &str,
) -> anyhow::Result<Vec<(i64, Sample)>> {
    let rows = client.query(
        "SELECT extract(epoch FROM c.taken_at)::int8, s.cpu_seconds, s.memory_bytes, \
                s.io_read_bytes, s.io_write_bytes, s.net_rx_bytes, s.net_tx_bytes \
         FROM core_data_dashboard.container_samples s \
         JOIN core_data_dashboard.captures c ON c.id = s.capture_id \
         WHERE s.container = $1 ORDER BY c.taken_at",
        &[&container],
    )?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get(0),
                Sample {
                    cpu_seconds: row.get(1),
                    memory_bytes: row.get(2),
                    io_read_bytes: row.get(3),
                    io_write_bytes: row.get(4),
                    net_rx_bytes: row.get(5),
                    net_tx_bytes: row.get(6),
                },
            )
        })
        .collect())
}

/// Per-second rates between consecutive samples, at the later one's time:
/// (epoch, CPU percent of one core, read B/s, write B/s, received B/s, sent B/s).
/// A counter that went down (the container restarted) starts over: no rate
/// for that interval.
pub(crate) fn rates(samples: &[(i64, Sample)]) -> Vec<(i64, [f64; 5])> {
    samples
        .windows(2)
        .filter_map(|pair| {
            let ((t0, a), (t1, b)) = (pair[0], pair[1]);
            let seconds = (t1 - t0) as f64;
            let restarted = b.cpu_seconds < a.cpu_seconds
                || b.io_read_bytes < a.io_read_bytes
                || b.io_write_bytes < a.io_write_bytes
                || b.net_rx_bytes < a.net_rx_bytes
                || b.net_tx_bytes < a.net_tx_bytes;
            if seconds <= 0.0 || restarted {
                return None;
            }
            let per = |x: i64, y: i64| (y - x) as f64 / seconds;
            Some((
                t1,
                [
                    (b.cpu_seconds - a.cpu_seconds) / seconds * 100.0,
                    per(a.io_read_bytes, b.io_read_bytes),
                    per(a.io_write_bytes, b.io_write_bytes),
                    per(a.net_rx_bytes, b.net_rx_bytes),
                    per(a.net_tx_bytes, b.net_tx_bytes),
                ],
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cpu: f64, io: i64, net: i64) -> Sample {
        Sample {
            cpu_seconds: cpu,
            memory_bytes: 1,
            io_read_bytes: io,
            io_write_bytes: io,
            net_rx_bytes: net,
            net_tx_bytes: net,
        }
    }

    #[test]
    fn rates_are_per_second_and_skip_a_restart() {
        let samples = [
            (100, at(10.0, 1000, 0)),
            (110, at(15.0, 3000, 500)),
            // Restarted: the counters start over.
            (120, at(1.0, 10, 10)),
            (130, at(2.0, 110, 20)),
        ];
        let rates = rates(&samples);
        assert_eq!(
            rates,
            vec![
                (110, [50.0, 200.0, 200.0, 50.0, 50.0]),
                (130, [10.0, 10.0, 10.0, 1.0, 1.0]),
            ]
        );
    }
}
