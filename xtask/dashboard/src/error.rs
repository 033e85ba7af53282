//! A page that could not be built: a 500 (or the status given) with the error
//! chain, escaped, in the page itself and on stderr.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use core_data_ops::daily::chart::escape;

/// An error a handler returns.
#[derive(Debug)]
pub(crate) struct AppError {
    pub(crate) status: StatusCode,
    pub(crate) error: anyhow::Error,
}

impl AppError {
    pub(crate) fn new(status: StatusCode, error: anyhow::Error) -> AppError {
        AppError { status, error }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(error: anyhow::Error) -> AppError {
        AppError::new(StatusCode::INTERNAL_SERVER_ERROR, error)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let text = format!("{:#}", self.error);
        if self.status.is_server_error() {
            eprintln!("core-data-dashboard: {text}");
        }
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>core_data: \
             error</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head><body><main>\
             <h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/\">Back to the overview</a></p>\
             </main></body></html>",
            self.status,
            escape(&text)
        );
        (self.status, Html(body)).into_response()
    }
}
