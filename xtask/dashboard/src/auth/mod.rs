//! Who may see the dashboard: the users file (`users`), sessions and their
//! cookie (`sessions`, `cookie`), CSRF tokens and the origin check (`csrf`),
//! the failed-login limiter (`rate`), the login and logout handlers (`login`)
//! and the middleware that turns a request without a live session into a
//! redirect to `/login` (`require`).

pub(crate) mod cookie;
pub(crate) mod csrf;
pub(crate) mod login;
pub(crate) mod rate;
pub(crate) mod require;
pub(crate) mod sessions;
pub(crate) mod users;

/// 256 random bits, hex: session ids and CSRF tokens. `rand::random` draws
/// from the thread-local CSPRNG (ChaCha, seeded from the OS).
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two tokens are equal, in time independent of where they differ.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_differ() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_token());
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &random_token()));
        assert!(!same_token(&a, ""));
    }
}
