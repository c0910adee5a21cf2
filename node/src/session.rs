//! `session` mode: asynchronous primary-to-replica replication with session tokens.
//!
//! Writes (and transactions containing writes) go to the fixed primary, which appends them
//! durably, applies them and acknowledges at once; background tasks ship the log to each
//! replica. Reads may be served by any replica. The session token is the log position of the
//! session's last write or read: a replica serving a read first waits until it has applied that
//! position; if it cannot catch up in time it forwards the read to the primary. Promise:
//! read-your-writes and monotonic reads within a session; nothing across sessions.

use crate::config::NodeConfig;
use crate::error::ApiError;
use crate::group::Group;
use crate::peer::PeerClient;
use crate::replication::{spawn_shippers, FollowerLens, ReplicatedLog};
use crate::server::Exec;
use crate::store::{aborted, ClientOp};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Notify;

pub struct Session {
    cfg: Arc<NodeConfig>,
    pub log: Arc<ReplicatedLog>,
    /// The primary's write queue (none on other replicas: they forward writes).
    group: Option<Group>,
}

fn token(v: &Value) -> Result<u64, ApiError> {
    match v {
        Value::Null => Ok(0),
        v => v.as_u64().ok_or_else(|| {
            ApiError::BadRequest(format!("session token {v} is not a session-mode token"))
        }),
    }
}

/// The primary executes a group of write transactions: append, apply, one fsync, then wake
/// the shipping tasks.
fn write_group(
    log: &ReplicatedLog,
    wake: &[Arc<Notify>],
    ops: Vec<ClientOp>,
) -> Vec<Result<Exec, ApiError>> {
    let mut g = log.lock();
    let mut results: Vec<Result<Exec, ApiError>> = ops
        .iter()
        .map(|op| {
            let tok = token(&op.session)?;
            let (results, _) = g.store.run(&op.mops)?;
            if aborted(&results) {
                return Ok(Exec::Done {
                    results,
                    session: json!(tok.max(g.applied)),
                });
            }
            let e = g.append_new(op.writes())?;
            g.apply_upto(e.index);
            Ok(Exec::Done {
                results,
                session: json!(tok.max(e.index)),
            })
        })
        .collect();
    if let Err(e) = g.sync() {
        results = crate::group::fail_unsynced(results, &e);
    }
    drop(g);
    log.publish();
    for w in wake {
        w.notify_one();
    }
    results
}

impl Session {
    pub fn open(cfg: Arc<NodeConfig>, peers: PeerClient) -> Result<Self, crate::NodeError> {
        let log = Arc::new(ReplicatedLog::open(&cfg, true)?);
        let wake = if cfg.is_primary() {
            spawn_shippers(&cfg, &peers, &log, &FollowerLens::default())
        } else {
            Vec::new()
        };
        let group = cfg.is_primary().then(|| {
            let log = log.clone();
            Group::spawn(move |ops| write_group(&log, &wake, ops))
        });
        Ok(Session { cfg, log, group })
    }

    pub async fn execute(&self, op: &ClientOp) -> Result<Exec, ApiError> {
        let tok = token(&op.session)?;
        if op.local {
            let g = self.log.lock();
            let (results, _) = g.store.run(&op.mops)?;
            return Ok(Exec::Done {
                results,
                session: json!(tok.max(g.applied)),
            });
        }
        if !op.read_only() {
            return match &self.group {
                Some(group) => group.submit(op.clone()).await,
                None => Ok(Exec::Forward(self.cfg.peers[&self.cfg.primary])),
            };
        }
        if !self.cfg.is_primary() {
            let mut rx = self.log.subscribe();
            let caught_up = tokio::time::timeout(
                self.cfg.timeouts.session_wait,
                rx.wait_for(|applied| *applied >= tok),
            )
            .await;
            if !matches!(caught_up, Ok(Ok(_))) {
                return Ok(Exec::Forward(self.cfg.peers[&self.cfg.primary]));
            }
        }
        let g = self.log.lock();
        if g.applied < tok && !self.cfg.is_primary() {
            return Ok(Exec::Forward(self.cfg.peers[&self.cfg.primary]));
        }
        let (results, _) = g.store.run(&op.mops)?;
        Ok(Exec::Done {
            results,
            session: json!(tok.max(g.applied)),
        })
    }
}
