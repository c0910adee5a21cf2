//! The HTTP server of one replica: client operations (`/kv/*`), the control API
//! (`/control/*`) and the peer API (`/peer/*`), dispatched to the replica's mode.

use crate::api::{ClockRequest, Health, KeysResponse, RegisterRequest, TxnRequest};
use crate::causal::{Causal, EventsRequest};
use crate::clock::Clock;
use crate::config::{Mode, NodeConfig};
use crate::error::{ApiError, NodeError};
use crate::eventual::{Eventual, MergeRequest};
use crate::peer::{PeerClient, FORWARDED};
use crate::replication::AppendRequest;
use crate::session::Session;
use crate::store::{ClientOp, MopResult};
use crate::strong::Strong;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What a mode decided for a client request.
pub enum Exec {
    Done {
        results: Vec<MopResult>,
        session: Value,
    },
    /// Send it to the primary at this address.
    Forward(SocketAddr),
}

/// A replica in its mode.
pub enum Replica {
    Strong(Strong),
    Causal(Arc<Causal>),
    Session(Session),
    Eventual(Arc<Eventual>),
}

impl Replica {
    async fn execute(&self, op: &ClientOp) -> Result<Exec, ApiError> {
        match self {
            Replica::Strong(r) => r.execute(op).await,
            Replica::Causal(r) => r.execute(op).await,
            Replica::Session(r) => r.execute(op).await,
            Replica::Eventual(r) => r.execute(op).await,
        }
    }

    fn log_len(&self) -> u64 {
        match self {
            Replica::Strong(r) => r.log.lock().len(),
            Replica::Session(r) => r.log.lock().len(),
            Replica::Causal(r) => r.log_len(),
            Replica::Eventual(r) => r.log_len(),
        }
    }

    fn keys(&self) -> Vec<String> {
        match self {
            Replica::Strong(r) => r.log.lock().store.keys(),
            Replica::Session(r) => r.log.lock().store.keys(),
            Replica::Causal(r) => r.keys(),
            Replica::Eventual(r) => r.keys(),
        }
    }
}

pub struct AppState {
    pub cfg: Arc<NodeConfig>,
    pub clock: Arc<Clock>,
    pub peers: PeerClient,
    pub replica: Replica,
}

type Shared = Arc<AppState>;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 << 20;

/// Opens the replica's log, binds `cfg.listen` and serves until `shutdown` resolves (then
/// finishes in-flight requests for at most two seconds).
pub async fn serve(
    cfg: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| NodeError::Listen {
            addr: cfg.listen,
            source,
        })?;
    serve_on(cfg, listener, shutdown).await
}

/// Like [`serve`], on an already bound listener.
pub async fn serve_on(
    cfg: NodeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let cfg = Arc::new(cfg);
    let clock = Arc::new(Clock::default());
    let peers = PeerClient::new();
    let replica = match cfg.mode {
        Mode::Strong => Replica::Strong(Strong::open(cfg.clone(), peers.clone())?),
        Mode::Session => Replica::Session(Session::open(cfg.clone(), peers.clone())?),
        Mode::Causal => Replica::Causal(Causal::open(cfg.clone(), peers.clone())?),
        Mode::Eventual => {
            Replica::Eventual(Eventual::open(cfg.clone(), clock.clone(), peers.clone())?)
        }
    };
    let state = Arc::new(AppState {
        cfg: cfg.clone(),
        clock,
        peers,
        replica,
    });
    tracing::info!(id = %cfg.id, mode = cfg.mode.name(), listen = %cfg.listen,
        log_len = state.replica.log_len(), "replica serving");
    let app = router(state);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        shutdown.await;
        let _ = tx.send(());
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(graceful);
    let hard_stop = async move {
        let _ = rx.await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    tokio::select! {
        r = server => r.map_err(|source| NodeError::Listen { addr: cfg.listen, source })?,
        _ = hard_stop => tracing::warn!("in-flight requests did not finish in 2 s; exiting"),
    }
    Ok(())
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/kv/txn", post(kv_txn))
        .route("/kv/register", post(kv_register))
        .route("/control/health", get(health))
        .route("/control/clock", post(set_clock))
        .route("/control/keys", get(keys))
        .route("/peer/append", post(peer_append))
        .route("/peer/events", post(peer_events))
        .route("/peer/merge", post(peer_merge))
        // Peer batches carry whole values (eventual mode ships entire lists).
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
}

async fn kv_txn(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let op = match parse::<TxnRequest>(&body).and_then(ClientOp::from_txn) {
        Ok(op) => op,
        Err(e) => return e.into_response(),
    };
    client_op(s, headers, body, op, "/kv/txn").await
}

async fn kv_register(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let op = match parse::<RegisterRequest>(&body).and_then(ClientOp::from_register) {
        Ok(op) => op,
        Err(e) => return e.into_response(),
    };
    client_op(s, headers, body, op, "/kv/register").await
}

async fn client_op(
    s: Shared,
    headers: HeaderMap,
    body: Bytes,
    op: ClientOp,
    path: &str,
) -> Response {
    match s.replica.execute(&op).await {
        Ok(Exec::Done { results, session }) => {
            Json(op.render(&results, &s.cfg.id, session)).into_response()
        }
        Ok(Exec::Forward(addr)) => {
            if headers.contains_key(FORWARDED) {
                return ApiError::Unavailable(format!(
                    "replica {} is not the primary and the request was already forwarded",
                    s.cfg.id
                ))
                .into_response();
            }
            match s
                .peers
                .forward(addr, path, body, s.cfg.timeouts.forward)
                .await
            {
                Ok((status, body)) => {
                    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
                }
                Err(e) => e.into_response(),
            }
        }
        Err(e) => e.into_response(),
    }
}

fn health_of(s: &AppState) -> Health {
    Health {
        id: s.cfg.id.clone(),
        mode: s.cfg.mode.name().to_string(),
        primary: s.cfg.mode.has_primary().then(|| s.cfg.primary.clone()),
        clock_ms: s.clock.now_ms(),
        offset_ms: s.clock.offset_ms(),
        log_len: s.replica.log_len(),
    }
}

async fn health(State(s): State<Shared>) -> Json<Health> {
    Json(health_of(&s))
}

async fn set_clock(State(s): State<Shared>, body: Bytes) -> Response {
    match parse::<ClockRequest>(&body) {
        Ok(req) => {
            s.clock.set_offset_ms(req.offset_ms);
            tracing::info!(offset_ms = req.offset_ms, "clock offset set");
            Json(health_of(&s)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn keys(State(s): State<Shared>) -> Json<KeysResponse> {
    Json(KeysResponse {
        keys: s.replica.keys(),
    })
}

fn wrong_mode(s: &AppState, path: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("{path} is not served in {} mode", s.cfg.mode.name()),
    )
        .into_response()
}

async fn peer_append(State(s): State<Shared>, body: Bytes) -> Response {
    let log = match &s.replica {
        Replica::Strong(r) => &r.log,
        Replica::Session(r) => &r.log,
        _ => return wrong_mode(&s, "/peer/append"),
    };
    if s.cfg.is_primary() {
        return ApiError::BadRequest("the primary does not accept appends".into()).into_response();
    }
    let from_primary = |req: AppendRequest| {
        if req.from == s.cfg.primary {
            Ok(req)
        } else {
            Err(ApiError::BadRequest(format!(
                "appends come from the primary {}, not from {}",
                s.cfg.primary, req.from
            )))
        }
    };
    match parse::<AppendRequest>(&body)
        .and_then(from_primary)
        .and_then(|req| crate::group::blocking(|| log.handle_append(&s.cfg.id, req)))
    {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn peer_events(State(s): State<Shared>, body: Bytes) -> Response {
    let Replica::Causal(r) = &s.replica else {
        return wrong_mode(&s, "/peer/events");
    };
    match parse::<EventsRequest>(&body)
        .and_then(|req| crate::group::blocking(|| r.handle_events(req)))
    {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn peer_merge(State(s): State<Shared>, body: Bytes) -> Response {
    let Replica::Eventual(r) = &s.replica else {
        return wrong_mode(&s, "/peer/merge");
    };
    match parse::<MergeRequest>(&body)
        .and_then(|req| crate::group::blocking(|| r.handle_merge(req)))
    {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}
