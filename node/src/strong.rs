//! `strong` mode: a fixed primary executes every operation serially and acknowledges a write
//! only once a majority of replicas (itself included) has durably appended it; reads are served
//! by the primary after a round in which a majority confirms it is still connected to them (and
//! has every entry the primary has applied).
//!
//! Ambiguity is handled in log order: the primary applies an entry to the state clients see only
//! once a majority has it. If replication times out after the primary appended an entry, the
//! client gets an indeterminate error and the entry stays *pending*: before serving anything
//! else, the primary must first get every pending entry to a majority (or refuse with a definite
//! 503, having done nothing). A restarted primary treats its whole replayed log as pending.
//! Non-primaries forward client requests to the primary.

use crate::config::NodeConfig;
use crate::error::ApiError;
use crate::peer::PeerClient;
use crate::replication::{ship, spawn_shippers, FollowerLens, ReplicatedLog};
use crate::server::Exec;
use crate::store::ClientOp;
use serde_json::json;
use std::sync::Arc;
use tokio::task::JoinSet;

pub struct Strong {
    cfg: Arc<NodeConfig>,
    peers: PeerClient,
    pub log: Arc<ReplicatedLog>,
    lens: FollowerLens,
    /// Serializes client operations at the primary.
    serial: tokio::sync::Mutex<()>,
}

impl Strong {
    pub fn open(cfg: Arc<NodeConfig>, peers: PeerClient) -> Result<Self, crate::NodeError> {
        // A follower may show what it has (local reads only); the primary must re-commit.
        let log = Arc::new(ReplicatedLog::open(&cfg, !cfg.is_primary())?);
        let lens = FollowerLens::default();
        // Followers outside the majority of a round catch up in the background.
        if cfg.is_primary() {
            spawn_shippers(&cfg, &peers, &log, &lens);
        }
        Ok(Strong {
            cfg,
            peers,
            log,
            lens,
            serial: tokio::sync::Mutex::new(()),
        })
    }

    pub async fn execute(&self, op: &ClientOp) -> Result<Exec, ApiError> {
        if op.local {
            let g = self.log.lock();
            let (results, _) = g.store.run(&op.mops)?;
            return Ok(Exec::Done {
                results,
                session: json!(g.applied),
            });
        }
        if !self.cfg.is_primary() {
            return Ok(Exec::Forward(self.cfg.peers[&self.cfg.primary]));
        }
        let _serial = self.serial.lock().await;
        let (len, applied) = {
            let g = self.log.lock();
            (g.len(), g.applied)
        };
        if applied < len {
            self.majority_round(len).await.map_err(|e| {
                ApiError::Unavailable(format!(
                    "earlier log entries {}..={len} are not on a majority yet: {e}",
                    applied + 1
                ))
            })?;
            self.log.lock().apply_upto(len);
            self.log.publish();
        }
        if op.read_only() {
            self.majority_round(len).await.map_err(|e| {
                ApiError::Unavailable(format!("cannot confirm a majority for a read: {e}"))
            })?;
            let g = self.log.lock();
            let (results, _) = g.store.run(&op.mops)?;
            return Ok(Exec::Done {
                results,
                session: json!(g.applied),
            });
        }
        let (results, index) = {
            let mut g = self.log.lock();
            let (results, _) = g.store.run(&op.mops)?;
            let e = g.append_new(op.writes())?;
            (results, e.index)
        };
        self.majority_round(index).await.map_err(|e| {
            ApiError::Indeterminate(format!(
                "log entry {index} is on the primary but not yet on a majority: {e}"
            ))
        })?;
        self.log.lock().apply_upto(index);
        self.log.publish();
        Ok(Exec::Done {
            results,
            session: json!(index),
        })
    }

    /// Ships entries until a majority (self included) holds the log up to `target`.
    async fn majority_round(&self, target: u64) -> Result<(), String> {
        let need = self.cfg.majority().saturating_sub(1);
        if need == 0 {
            return Ok(());
        }
        let mut set = JoinSet::new();
        for (id, _) in self.cfg.others() {
            let (cfg, peers, log, lens, id) = (
                self.cfg.clone(),
                self.peers.clone(),
                self.log.clone(),
                self.lens.clone(),
                id.clone(),
            );
            set.spawn(async move {
                loop {
                    let len = ship(&cfg, &peers, &log, &lens, &id)
                        .await
                        .map_err(|e| e.to_string())?;
                    if len >= target {
                        return Ok::<(), String>(());
                    }
                }
            });
        }
        let collect = async {
            let mut acks = 0;
            let mut errors = Vec::new();
            while let Some(r) = set.join_next().await {
                match r {
                    Ok(Ok(())) => {
                        acks += 1;
                        if acks >= need {
                            return Ok(());
                        }
                    }
                    Ok(Err(e)) => errors.push(e),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            Err(errors.join("; "))
        };
        match tokio::time::timeout(self.cfg.timeouts.majority_round, collect).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no majority within {:?}",
                self.cfg.timeouts.majority_round
            )),
        }
    }
}
