//! A `Progress` that records each status line with its time: the steps of a
//! command as it reports them, for per-step figures.

use std::sync::Mutex;
use std::time::Instant;

use crate::progress::Progress;

/// Status lines with their time, for per-step figures.
pub(crate) struct Timeline<'a> {
    inner: &'a dyn Progress,
    started: Instant,
    /// The wall-clock time of `started`, to line marks up with container logs.
    pub(crate) started_at: jiff::Timestamp,
    marks: Mutex<Vec<(String, f64)>>,
}

impl Progress for Timeline<'_> {
    fn status(&self, verb: &str, message: &str) {
        let at = self.started.elapsed().as_secs_f64();
        self.marks
            .lock()
            .expect("timeline")
            .push((format!("{verb} {message}"), at));
        self.inner.status(verb, message);
    }
    fn detail(&self, line: &str) {
        self.inner.detail(line);
    }
}

impl<'a> Timeline<'a> {
    pub(crate) fn new(inner: &'a dyn Progress) -> Timeline<'a> {
        Timeline {
            inner,
            started: Instant::now(),
            started_at: jiff::Timestamp::now(),
            marks: Mutex::new(Vec::new()),
        }
    }

    /// Seconds since the start.
    pub(crate) fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The wall-clock time of the first status line that starts with `prefix`.
    pub(crate) fn first(&self, prefix: &str) -> Option<jiff::Timestamp> {
        self.first_matching(|line| line.starts_with(prefix))
    }

    /// The wall-clock time of the first status line (`verb message`) `matches` accepts.
    pub(crate) fn first_matching(&self, matches: impl Fn(&str) -> bool) -> Option<jiff::Timestamp> {
        let marks = self.marks.lock().expect("timeline");
        let (_, at) = marks.iter().find(|(line, _)| matches(line))?;
        self.started_at
            .checked_add(jiff::SignedDuration::from_secs_f64(*at))
            .ok()
    }

    /// (step, seconds until the next step or `end`).
    pub(crate) fn steps(&self, end: f64) -> Vec<(String, f64)> {
        let marks = self.marks.lock().expect("timeline");
        marks
            .iter()
            .enumerate()
            .map(|(i, (name, at))| {
                let next = marks.get(i + 1).map_or(end, |(_, t)| *t);
                (name.chars().take(70).collect(), next - at)
            })
            .collect()
    }
}
