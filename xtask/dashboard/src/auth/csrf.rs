//! Cross-site request forgery: every state-changing request (every POST,
//! the login form's included) must come from our own pages. Two checks, both
//! required: the `Origin` (or, without one, the `Referer`) names this very
//! host over HTTPS, and the form's `csrf` field equals the session's token
//! (or, at login, the pre-session token of the `__Host-core_data_login`
//! cookie), compared in constant time.

use axum::http::{header, HeaderMap};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Neither `Origin` nor `Referer` names this host.
    CrossOrigin(String),
    /// The token is missing or wrong.
    BadToken,
}

impl Refusal {
    /// The sentence shown with the 403.
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::CrossOrigin(seen) => format!(
                "refused: the request came from `{seen}`, not from this dashboard's own pages; \
                 reload the page and submit again"
            ),
            Refusal::BadToken => "refused: the form's CSRF token is missing or stale; reload the \
                                  page and submit again"
                .to_owned(),
        }
    }
}

/// The origin this request was sent to (`https://` and its `Host`).
fn own_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    Some(format!("https://{host}"))
}

/// Checks `Origin`, else `Referer`, against the request's own host.
pub(crate) fn check_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    let own = own_origin(headers);
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok());
    let referer = headers
        .get(header::REFERER)
        .and_then(|value| value.to_str().ok());
    let ok = match (&own, origin, referer) {
        (Some(own), Some(origin), _) => origin == own,
        (Some(own), None, Some(referer)) => {
            referer == own || referer.starts_with(&format!("{own}/"))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::CrossOrigin(
            origin
                .or(referer)
                .unwrap_or("nowhere (no Origin or Referer)")
                .to_owned(),
        ))
    }
}

/// Both checks for a request carrying `sent` as its form token, `expected`
/// being the session's (or the login cookie's) token.
pub(crate) fn check(
    headers: &HeaderMap,
    sent: Option<&str>,
    expected: Option<&str>,
) -> Result<(), Refusal> {
    check_origin(headers)?;
    match (sent, expected) {
        (Some(sent), Some(expected))
            if !expected.is_empty() && super::same_token(sent, expected) =>
        {
            Ok(())
        }
        _ => Err(Refusal::BadToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_our_own_origin_with_the_right_token_passes() {
        let token = crate::auth::random_token();
        let ours = headers(&[
            (header::HOST, "localhost:8443"),
            (header::ORIGIN, "https://localhost:8443"),
        ]);
        assert_eq!(check(&ours, Some(&token), Some(&token)), Ok(()));
        assert_eq!(check(&ours, None, Some(&token)), Err(Refusal::BadToken));
        assert_eq!(
            check(&ours, Some("0000"), Some(&token)),
            Err(Refusal::BadToken)
        );
        assert_eq!(check(&ours, Some(""), Some("")), Err(Refusal::BadToken));
        let evil = headers(&[
            (header::HOST, "localhost:8443"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert!(matches!(
            check(&evil, Some(&token), Some(&token)),
            Err(Refusal::CrossOrigin(_))
        ));
        let plain_http = headers(&[
            (header::HOST, "localhost:8443"),
            (header::ORIGIN, "http://localhost:8443"),
        ]);
        assert!(check_origin(&plain_http).is_err());
        let referer = headers(&[
            (header::HOST, "localhost:8443"),
            (header::REFERER, "https://localhost:8443/live"),
        ]);
        assert_eq!(check_origin(&referer), Ok(()));
        let lookalike = headers(&[
            (header::HOST, "localhost:8443"),
            (header::REFERER, "https://localhost:8443.evil.example/"),
        ]);
        assert!(check_origin(&lookalike).is_err());
        assert!(check_origin(&headers(&[(header::HOST, "localhost:8443")])).is_err());
    }
}
