//! Sessions in memory: a random 256-bit id (the cookie) to the user and the
//! session's CSRF token. A session ends after `session_idle_minutes` without a
//! request, at logout, or when its user leaves the users file. A restart of
//! the service ends them all (nothing about sessions is written anywhere).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One logged-in user.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) user: String,
    /// Required in every state-changing request of this session.
    pub(crate) csrf: String,
    last_seen: Instant,
}

/// Every live session.
pub(crate) struct Sessions {
    idle: Duration,
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub(crate) fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session for `user`; returns its id.
    pub(crate) fn create(&self, user: &str) -> String {
        let id = super::random_token();
        let session = Session {
            user: user.to_owned(),
            csrf: super::random_token(),
            last_seen: Instant::now(),
        };
        let mut live = self.lock();
        let now = Instant::now();
        live.retain(|_, s| now.duration_since(s.last_seen) < self.idle);
        live.insert(id.clone(), session);
        id
    }

    /// The session `id` if it is live at `now`, marking it used; an expired
    /// one is removed.
    pub(crate) fn touch_at(&self, id: &str, now: Instant) -> Option<Session> {
        let mut live = self.lock();
        let session = live.get_mut(id)?;
        if now.saturating_duration_since(session.last_seen) >= self.idle {
            live.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// [`Sessions::touch_at`] now.
    pub(crate) fn touch(&self, id: &str) -> Option<Session> {
        self.touch_at(id, Instant::now())
    }

    /// Ends session `id`.
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_expires_after_its_idle_time_and_use_extends_it() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.create("alice");
        let start = Instant::now();
        let session = sessions
            .touch_at(&id, start + Duration::from_secs(50))
            .unwrap();
        assert_eq!(session.user, "alice");
        assert_eq!(session.csrf.len(), 64);
        // Used at 50 s, so still live at 100 s ...
        assert!(sessions
            .touch_at(&id, start + Duration::from_secs(100))
            .is_some());
        // ... and gone 60 s after its last use, for good.
        assert!(sessions
            .touch_at(&id, start + Duration::from_secs(161))
            .is_none());
        assert!(sessions
            .touch_at(&id, start + Duration::from_secs(100))
            .is_none());
        assert!(sessions.touch("not a session").is_none());
        let other = sessions.create("bob");
        sessions.remove(&other);
        assert!(sessions.touch(&other).is_none());
    }
}
