//! Failed logins counted per client address and per user name over the last
//! minute; past `login_attempts_per_minute` either key is refused (429 with
//! `Retry-After`) before the password is even checked.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// The failed-login limiter.
pub(crate) struct Limiter {
    per_minute: u32,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    pub(crate) fn new(per_minute: u32) -> Limiter {
        Limiter {
            per_minute: per_minute.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when any of `keys` is past the limit at `now`.
    pub(crate) fn blocked_at(&self, keys: &[String], now: Instant) -> Option<u64> {
        let mut failures = self.lock();
        // Every key's old failures go, not only the keys asked about: a key used once
        // (a made-up user name) must not stay in memory.
        for times in failures.values_mut() {
            while times
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
            {
                times.pop_front();
            }
        }
        failures.retain(|_, times| !times.is_empty());
        let mut wait = None;
        for key in keys {
            let Some(times) = failures.get_mut(key) else {
                continue;
            };
            if times.len() >= self.per_minute as usize {
                let oldest = *times.front().expect("non-empty past the limit");
                let left = WINDOW.saturating_sub(now.saturating_duration_since(oldest));
                let seconds = left.as_secs() + 1;
                wait = Some(wait.map_or(seconds, |w: u64| w.max(seconds)));
            }
        }
        failures.retain(|_, times| !times.is_empty());
        wait
    }

    /// Records a failed login against each of `keys` at `now`.
    pub(crate) fn fail_at(&self, keys: &[String], now: Instant) {
        let mut failures = self.lock();
        for key in keys {
            failures.entry(key.clone()).or_default().push_back(now);
        }
    }

    pub(crate) fn blocked(&self, keys: &[String]) -> Option<u64> {
        self.blocked_at(keys, Instant::now())
    }

    pub(crate) fn fail(&self, keys: &[String]) {
        self.fail_at(keys, Instant::now());
    }

    /// Takes back the failure [`fail`](Self::fail) recorded for each of `keys`
    /// (an attempt is counted before its password is checked, so parallel
    /// attempts cannot all pass the limit; a right password takes it back).
    pub(crate) fn forgive(&self, keys: &[String]) {
        let mut failures = self.lock();
        for key in keys {
            if let Some(times) = failures.get_mut(key) {
                times.pop_back();
            }
        }
        failures.retain(|_, times| !times.is_empty());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The limiter's keys for a login attempt.
pub(crate) fn keys(address: &str, user: &str) -> Vec<String> {
    vec![format!("addr:{address}"), format!("user:{user}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_limit_block_by_address_or_by_user_for_a_minute() {
        let limiter = Limiter::new(3);
        let start = Instant::now();
        let attacker = keys("10.0.0.1", "alice");
        for _ in 0..3 {
            assert_eq!(limiter.blocked_at(&attacker, start), None);
            limiter.fail_at(&attacker, start);
        }
        let wait = limiter.blocked_at(&attacker, start + Duration::from_secs(10));
        assert_eq!(wait, Some(51));
        // The same user from elsewhere is blocked too, another user from the
        // same address as well; an unrelated pair is not.
        assert!(limiter.blocked(&keys("10.0.0.2", "alice")).is_some());
        assert!(limiter.blocked(&keys("10.0.0.1", "bob")).is_some());
        assert!(limiter.blocked(&keys("10.0.0.2", "bob")).is_none());
        // A minute after the failures, the keys are free again.
        assert_eq!(
            limiter.blocked_at(&attacker, start + Duration::from_secs(60)),
            None
        );
    }

    #[test]
    fn keys_nobody_asks_about_again_are_forgotten_and_a_success_is_forgiven() {
        let limiter = Limiter::new(3);
        let start = Instant::now();
        for n in 0..100 {
            limiter.fail_at(&keys("10.0.0.9", &format!("made-up-{n}")), start);
        }
        assert!(limiter.lock().len() > 100);
        // A minute later any check prunes every key, not only the ones it asks about.
        assert_eq!(
            limiter.blocked_at(&keys("10.0.0.1", "alice"), start + WINDOW),
            None
        );
        assert!(limiter.lock().is_empty());
        // An attempt counted before its check and then forgiven leaves nothing.
        let alice = keys("10.0.0.1", "alice");
        limiter.fail(&alice);
        limiter.forgive(&alice);
        assert!(limiter.lock().is_empty());
    }
}
