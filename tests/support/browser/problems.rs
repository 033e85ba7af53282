//! What went wrong on a page, from chromedriver's logs (the session asks for
//! `goog:loggingPrefs` {browser: ALL, performance: ALL}): console errors from
//! the `browser` log, failed requests from the `performance` log's DevTools
//! network events (`Network.loadingFailed`, and `Network.responseReceived`
//! with a status of 400 or more, and the console's own "Failed to load
//! resource" lines). chromedriver hands each entry out once, so
//! what is read is kept here until the next `visit`.

use std::collections::BTreeMap;

use serde_json::Value;

/// A `SEVERE` entry of the browser's console: an uncaught exception, a
/// `console.error`, a blocked script. (Chromium also logs every failed load
/// there, as source `network`; those are [`FailedRequest`]s instead.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleError {
    /// `javascript`, `console-api`, `security`, …
    pub source: String,
    pub message: String,
}

/// A request that failed or was answered with a status of 400 or more.
/// Requests the page itself cancelled (navigating away) are not failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRequest {
    pub url: String,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// Chromium's error (`net::ERR_FILE_NOT_FOUND`, `net::ERR_CERT_AUTHORITY_INVALID`, …).
    pub error: Option<String>,
}

impl std::fmt::Display for FailedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.url)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(error) = &self.error {
            write!(f, " ({error})")?;
        }
        Ok(())
    }
}

/// Everything that went wrong since the last `visit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    pub console_errors: Vec<ConsoleError>,
    pub failed_requests: Vec<FailedRequest>,
}

impl Problems {
    pub fn is_empty(&self) -> bool {
        self.console_errors.is_empty() && self.failed_requests.is_empty()
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "console errors: {}", self.console_errors.len())?;
        for error in &self.console_errors {
            writeln!(f, "  [{}] {}", error.source, error.message)?;
        }
        writeln!(f, "failed requests: {}", self.failed_requests.len())?;
        for request in &self.failed_requests {
            writeln!(f, "  {request}")?;
        }
        Ok(())
    }
}

/// The log entries read so far since the last `visit`.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    console_errors: Vec<ConsoleError>,
    /// Request ID to URL, from `Network.requestWillBeSent`.
    urls: BTreeMap<String, String>,
    /// Request ID to its failure, in the order they were seen.
    failed: Vec<(String, FailedRequest)>,
}

impl Seen {
    /// Takes in entries of chromedriver's `browser` log (after the
    /// `performance` log's of the same read): a failed load Chromium reports
    /// there (`<url> - Failed to load resource: <why>`) counts once, as a
    /// failed request, also if the network events missed it.
    pub(crate) fn console(&mut self, entries: &Value) {
        for entry in entries.as_array().into_iter().flatten() {
            let field = |name: &str| entry[name].as_str().unwrap_or_default().to_owned();
            if field("level") != "SEVERE" {
                continue;
            }
            let message = field("message");
            if field("source") == "network" {
                if let Some((url, why)) = message.split_once(" - Failed to load resource: ") {
                    if !self.failed.iter().any(|(_, known)| known.url == url) {
                        self.fail(
                            format!("console:{url}"),
                            url.to_owned(),
                            None,
                            Some(why.to_owned()),
                        );
                    }
                    continue;
                }
            }
            self.console_errors.push(ConsoleError {
                source: field("source"),
                message,
            });
        }
    }

    /// Takes in entries of chromedriver's `performance` log (each `message` is
    /// a JSON string holding one DevTools event).
    pub(crate) fn performance(&mut self, entries: &Value) {
        for entry in entries.as_array().into_iter().flatten() {
            let Some(event) = entry["message"]
                .as_str()
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
            else {
                continue;
            };
            let event = &event["message"];
            let params = &event["params"];
            let id = params["requestId"].as_str().unwrap_or_default().to_owned();
            match event["method"].as_str().unwrap_or_default() {
                "Network.requestWillBeSent" => {
                    if let Some(url) = params["request"]["url"].as_str() {
                        self.urls.insert(id, url.to_owned());
                    }
                }
                "Network.responseReceived" => {
                    let status = params["response"]["status"].as_f64().unwrap_or(0.0);
                    if status >= 400.0 {
                        let url = params["response"]["url"].as_str().unwrap_or_default();
                        self.fail(id, url.to_owned(), Some(status as u16), None);
                    }
                }
                "Network.loadingFailed" if params["canceled"] != Value::Bool(true) => {
                    let url = self.urls.get(&id).cloned().unwrap_or_default();
                    let error = params["errorText"].as_str().map(str::to_owned);
                    self.fail(id, url, None, error);
                }
                _ => {}
            }
        }
    }

    /// One failure per request: a 404 that also fails to load is one problem.
    fn fail(&mut self, id: String, url: String, status: Option<u16>, error: Option<String>) {
        if let Some((_, known)) = self.failed.iter_mut().find(|(seen, _)| *seen == id) {
            known.status = known.status.or(status);
            known.error = known.error.take().or(error);
            return;
        }
        self.failed.push((id, FailedRequest { url, status, error }));
    }

    pub(crate) fn problems(&self) -> Problems {
        Problems {
            console_errors: self.console_errors.clone(),
            failed_requests: self.failed.iter().map(|(_, r)| r.clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn perf(method: &str, params: Value) -> Value {
        json!({
            "level": "INFO",
            "message": json!({"message": {"method": method, "params": params}, "webview": "x"}).to_string(),
        })
    }

    #[test]
    fn console_errors_are_severe_entries_not_from_the_network() {
        let mut seen = Seen::default();
        seen.console(&json!([
            {"level": "SEVERE", "source": "javascript", "message": "page.html 3:9 Uncaught Error: boom"},
            {"level": "SEVERE", "source": "network", "message": "file:///p/missing.png - Failed to load resource: net::ERR_FILE_NOT_FOUND"},
            {"level": "WARNING", "source": "console-api", "message": "a warning"},
        ]));
        assert_eq!(
            seen.problems().console_errors,
            vec![ConsoleError {
                source: "javascript".into(),
                message: "page.html 3:9 Uncaught Error: boom".into()
            }]
        );
        assert_eq!(
            seen.problems().failed_requests,
            vec![FailedRequest {
                url: "file:///p/missing.png".into(),
                status: None,
                error: Some("net::ERR_FILE_NOT_FOUND".into())
            }]
        );
    }

    #[test]
    fn a_failed_load_in_both_logs_counts_once() {
        let mut seen = Seen::default();
        seen.performance(&json!([
            perf(
                "Network.requestWillBeSent",
                json!({"requestId": "7", "request": {"url": "https://a/gone"}})
            ),
            perf(
                "Network.responseReceived",
                json!({"requestId": "7", "response": {"url": "https://a/gone", "status": 404}})
            ),
        ]));
        seen.console(&json!([
            {"level": "SEVERE", "source": "network", "message": "https://a/gone - Failed to load resource: the server responded with a status of 404 (Not Found)"},
        ]));
        let problems = seen.problems();
        assert!(problems.console_errors.is_empty());
        assert_eq!(problems.failed_requests.len(), 1, "{problems}");
        assert_eq!(problems.failed_requests[0].status, Some(404));
    }

    #[test]
    fn failed_requests_come_from_network_events() {
        let mut seen = Seen::default();
        seen.performance(&json!([
            perf("Network.requestWillBeSent", json!({"requestId": "1", "request": {"url": "https://a/ok"}})),
            perf("Network.responseReceived", json!({"requestId": "1", "response": {"url": "https://a/ok", "status": 200}})),
            perf("Network.requestWillBeSent", json!({"requestId": "2", "request": {"url": "https://a/gone"}})),
            perf("Network.responseReceived", json!({"requestId": "2", "response": {"url": "https://a/gone", "status": 404}})),
            perf("Network.loadingFailed", json!({"requestId": "2", "errorText": "net::ERR_HTTP_RESPONSE_CODE_FAILURE", "canceled": false})),
            perf("Network.requestWillBeSent", json!({"requestId": "3", "request": {"url": "file:///p/missing.png"}})),
            perf("Network.loadingFailed", json!({"requestId": "3", "errorText": "net::ERR_FILE_NOT_FOUND", "canceled": false})),
            perf("Network.requestWillBeSent", json!({"requestId": "4", "request": {"url": "https://a/left"}})),
            perf("Network.loadingFailed", json!({"requestId": "4", "errorText": "net::ERR_ABORTED", "canceled": true})),
            {"level": "INFO", "message": "not JSON"},
        ]));
        assert_eq!(
            seen.problems().failed_requests,
            vec![
                FailedRequest {
                    url: "https://a/gone".into(),
                    status: Some(404),
                    error: Some("net::ERR_HTTP_RESPONSE_CODE_FAILURE".into())
                },
                FailedRequest {
                    url: "file:///p/missing.png".into(),
                    status: None,
                    error: Some("net::ERR_FILE_NOT_FOUND".into())
                },
            ]
        );
    }
}
