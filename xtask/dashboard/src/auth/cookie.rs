//! The two cookies: the session (`__Host-core_data_session`) and the login
//! form's pre-session CSRF token (`__Host-core_data_login`). Both `Secure`,
//! `HttpOnly`, `SameSite=Strict`, `Path=/`, no `Domain` (the `__Host-` prefix
//! makes browsers insist on exactly that).

use axum::http::{header, HeaderMap};

/// The session cookie's name.
pub(crate) const SESSION: &str = "__Host-core_data_session";
/// The login form's token cookie.
pub(crate) const LOGIN: &str = "__Host-core_data_login";

/// A `Set-Cookie` value setting `name`, for `max_age` seconds or (`None`)
/// until the browser closes (the server ends idle sessions itself).
pub(crate) fn set(name: &str, value: &str, max_age: Option<u64>) -> String {
    let age = max_age.map_or_else(String::new, |seconds| format!("; Max-Age={seconds}"));
    format!("{name}={value}{age}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// A `Set-Cookie` value removing `name`.
pub(crate) fn clear(name: &str) -> String {
    format!("{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// The value of cookie `name` in the request, if sent.
pub(crate) fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_every_flag_and_parse_back() {
        let value = set(SESSION, "abc", Some(600));
        for flag in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=600",
        ] {
            assert!(
                value.split("; ").any(|part| part == flag),
                "{flag} in {value}"
            );
        }
        assert!(!value.contains("Domain"));
        assert!(clear(SESSION).contains("Max-Age=0"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("other=1; {SESSION}=abc; x=y").parse().unwrap(),
        );
        assert_eq!(get(&headers, SESSION).as_deref(), Some("abc"));
        assert_eq!(get(&headers, LOGIN), None);
    }
}
