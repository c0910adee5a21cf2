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
    wake: Vec<Arc<Notify>>,
}

fn token(v: &Value) -> Result<u64, ApiError> {
    match v {
        Value::Null => Ok(0),
        v => v.as_u64().ok_or_else(|| {
            ApiError::BadRequest(format!("session token {v} is not a session-mode token"))
        }),
    }
}

impl Session {
    pub fn open(cfg: Arc<NodeConfig>, peers: PeerClient) -> Result<Self, crate::NodeError> {
        let log = Arc::new(ReplicatedLog::open(&cfg, true)?);
        let wake = if cfg.is_primary() {
            spawn_shippers(&cfg, &peers, &log, &FollowerLens::default())
        } else {
            Vec::new()
        };
        Ok(Session { cfg, log, wake })
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
            if !self.cfg.is_primary() {
                return Ok(Exec::Forward(self.cfg.peers[&self.cfg.primary]));
            }
            let (results, index) = {
                let mut g = self.log.lock();
                let (results, _) = g.store.run(&op.mops)?;
                if aborted(&results) {
                    let applied = g.applied;
                    return Ok(Exec::Done {
                        results,
                        session: json!(tok.max(applied)),
                    });
                }
                let e = g.append_new(op.writes())?;
                g.apply_upto(e.index);
                (results, e.index)
            };
            self.log.publish();
            for w in &self.wake {
                w.notify_one();
            }
            return Ok(Exec::Done {
                results,
                session: json!(tok.max(index)),
            });
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
