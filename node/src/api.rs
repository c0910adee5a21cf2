//! Wire types of the client and control API (`docs/node-api.md`), public so the runner can use
//! them. A transaction's micro-ops travel as JSON arrays `[f, key, value]`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /kv/txn` request.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TxnRequest {
    /// Micro-ops as `[f, key, value]` with f one of `append`, `r`, `w`.
    pub ops: Vec<Value>,
    /// The session token from the last response of the same session, or null.
    #[serde(default)]
    pub session: Value,
    /// Serve from this replica's own state without coordination (reads only).
    #[serde(default)]
    pub local: bool,
}

/// `POST /kv/txn` response: the micro-ops with read values filled in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnResponse {
    pub ops: Vec<Value>,
    /// False when a `cas` micro-op's precondition was false: the transaction had no effect.
    #[serde(default = "yes")]
    pub ok: bool,
    /// Id of the replica that executed the transaction.
    pub node: String,
    pub session: Value,
}

fn yes() -> bool {
    true
}

/// `POST /kv/register` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// `read`, `write` or `cas`.
    pub f: String,
    pub key: Value,
    /// The value to write, `[expected, new]` for cas, ignored for read.
    #[serde(default)]
    pub value: Value,
    #[serde(default)]
    pub session: Value,
    #[serde(default)]
    pub local: bool,
}

/// `POST /kv/register` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub f: String,
    /// The value read, the value written, or the `[expected, new]` pair of a cas.
    pub value: Value,
    /// False only for a cas whose precondition did not hold.
    pub ok: bool,
    pub node: String,
    pub session: Value,
}

/// Body of every error response. `definite: true` (with HTTP 503 or 400) means the operation
/// certainly did not take effect; anything else is indeterminate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub definite: bool,
}

/// `GET /control/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    pub id: String,
    pub mode: String,
    /// The fixed primary in `strong` and `session` modes; null in the others.
    pub primary: Option<String>,
    /// This replica's clock (system clock + offset), ms since the Unix epoch.
    pub clock_ms: i64,
    pub offset_ms: i64,
    /// Number of records in this replica's durable log.
    pub log_len: u64,
}

/// `POST /control/clock`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockRequest {
    pub offset_ms: i64,
}

/// `GET /control/keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeysResponse {
    pub keys: Vec<String>,
}
