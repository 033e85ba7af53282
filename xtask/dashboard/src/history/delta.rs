//! The difference between two captures of one statement's counters.
//! pg_stat_statements counters only grow, except when they are reset
//! (`pg_stat_statements_reset()`, by someone else: the dashboard never calls
//! it) or the entry was evicted and came back; a counter that went down
//! therefore means "everything since the reset", and that is the delta.

/// The cumulative counters of one statement.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Counters {
    pub(crate) calls: i64,
    pub(crate) exec_ms: f64,
    pub(crate) rows: i64,
}

/// One interval's activity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Delta {
    pub(crate) counters: Counters,
    /// The counters went down, or the whole view was reset in between.
    pub(crate) after_reset: bool,
}

/// The delta from `before` (the previous capture's counters, `None` when
/// the statement was not there) to `now`. `reset` says the view's
/// `stats_reset` moved in between. `None` when nothing happened.
pub(crate) fn delta(before: Option<Counters>, now: Counters, reset: bool) -> Option<Delta> {
    let result = match before {
        None => Delta {
            counters: now,
            after_reset: reset,
        },
        Some(_) if reset => Delta {
            counters: now,
            after_reset: true,
        },
        Some(before) if now.calls < before.calls || now.exec_ms < before.exec_ms => Delta {
            counters: now,
            after_reset: true,
        },
        Some(before) => Delta {
            counters: Counters {
                calls: now.calls - before.calls,
                exec_ms: now.exec_ms - before.exec_ms,
                rows: (now.rows - before.rows).max(0),
            },
            after_reset: false,
        },
    };
    (result.counters.calls > 0).then_some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(calls: i64, exec_ms: f64, rows: i64) -> Counters {
        Counters {
            calls,
            exec_ms,
            rows,
        }
    }

    #[test]
    fn deltas_grow_and_a_reset_counts_from_zero() {
        let d = delta(Some(c(10, 100.0, 50)), c(15, 160.0, 60), false).unwrap();
        assert_eq!(d.counters, c(5, 60.0, 10));
        assert!(!d.after_reset);
        assert_eq!(delta(Some(c(10, 100.0, 50)), c(10, 100.0, 50), false), None);
        // Counters went down: reset or evicted and back; never a negative delta.
        let d = delta(Some(c(10, 100.0, 50)), c(3, 20.0, 4), false).unwrap();
        assert_eq!(d.counters, c(3, 20.0, 4));
        assert!(d.after_reset);
        // The view was reset in between, even if the counters caught up since.
        let d = delta(Some(c(10, 100.0, 50)), c(12, 130.0, 55), true).unwrap();
        assert_eq!(d.counters, c(12, 130.0, 55));
        assert!(d.after_reset);
        // A statement new since the last capture: all of it is this interval's.
        assert_eq!(
            delta(None, c(2, 4.0, 2), false).unwrap().counters,
            c(2, 4.0, 2)
        );
    }
}
