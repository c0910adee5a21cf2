//! Replica-to-replica HTTP client: peer RPCs with timeouts and forwarding of client requests
//! to the primary. Peers are addressed by the `--peers` address (which may be a proxy), never
//! by their listen address, and identify themselves by id in request bodies.

use crate::error::ApiError;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// Header marking a request forwarded by a replica (so a misconfigured cluster cannot loop).
pub const FORWARDED: &str = "x-faultline-forwarded";

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The request certainly did not reach the peer.
    #[error("cannot connect to {0}")]
    Connect(SocketAddr),
    #[error("peer {addr} did not answer in time or the connection broke: {reason}")]
    Lost { addr: SocketAddr, reason: String },
    #[error("peer {addr} answered HTTP {status}: {body}")]
    Status {
        addr: SocketAddr,
        status: u16,
        body: String,
    },
}

#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
}

impl PeerClient {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(300))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        PeerClient { http }
    }

    /// POSTs a JSON body and decodes the JSON answer.
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        addr: SocketAddr,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<R, PeerError> {
        let url = format!("http://{addr}{path}");
        let resp = self
            .http
            .post(url)
            .timeout(timeout)
            .json(body)
            .send()
            .await
            .map_err(|e| classify(addr, e))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(PeerError::Status {
                addr,
                status: status.as_u16(),
                body,
            });
        }
        resp.json::<R>().await.map_err(|e| classify(addr, e))
    }

    /// Forwards a client request body to the primary and relays its answer. A connection that
    /// was never made is a definite failure; anything else after sending is indeterminate.
    pub async fn forward(
        &self,
        addr: SocketAddr,
        path: &str,
        body: axum::body::Bytes,
        timeout: Duration,
    ) -> Result<(StatusCode, axum::body::Bytes), ApiError> {
        let url = format!("http://{addr}{path}");
        let resp = self
            .http
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header(FORWARDED, "1")
            .body(body)
            .send()
            .await
            .map_err(|e| match classify(addr, e) {
                PeerError::Connect(a) => {
                    ApiError::Unavailable(format!("cannot reach the primary at {a}"))
                }
                other => ApiError::Indeterminate(format!("forwarding to the primary: {other}")),
            })?;
        let status = StatusCode::from_u16(resp.status().as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = resp
            .bytes()
            .await
            .map_err(|e| ApiError::Indeterminate(format!("reading the primary's answer: {e}")))?;
        Ok((status, body))
    }
}

impl Default for PeerClient {
    fn default() -> Self {
        Self::new()
    }
}

fn classify(addr: SocketAddr, e: reqwest::Error) -> PeerError {
    if e.is_connect() {
        PeerError::Connect(addr)
    } else {
        PeerError::Lost {
            addr,
            reason: e.to_string(),
        }
    }
}
