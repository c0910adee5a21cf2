//! Errors: [`NodeError`] for starting a replica (bad configuration, unreadable data directory),
//! [`ApiError`] for a request, which knows whether the operation certainly did not happen.

use crate::api::ErrorBody;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;

/// Why a replica could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: corrupt log record: {problem}")]
    CorruptLog {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A failed request. `Definite` errors guarantee the operation had no effect.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: nothing was done (HTTP 400, definite).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Refused before anything was applied (HTTP 503, definite).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The operation may or may not have taken effect (HTTP 504, indeterminate).
    #[error("indeterminate: {0}")]
    Indeterminate(String),
    /// A log write failed: the replica cannot promise anything (HTTP 500, indeterminate).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn definite(&self) -> bool {
        matches!(self, ApiError::BadRequest(_) | ApiError::Unavailable(_))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Indeterminate(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.to_string(),
            definite: self.definite(),
        };
        (self.status(), axum::Json(body)).into_response()
    }
}
