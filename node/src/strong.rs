//! `strong` mode: a fixed primary executes every operation serially and acknowledges a write
//! only once a majority of replicas (itself included) has durably appended it; reads are served
//! by the primary after a round in which a majority confirms it is still connected to them (and
//! has every entry the primary has applied).
//!
//! The primary's *sequencer* task takes client operations from a bounded queue in groups (group
//! commit): it executes a group serially against the visible state plus the group's earlier
//! writes, appends the group's writes to its log with one fsync, and runs one majority round for
//! the whole group. Every operation of a group was invoked before any of them is answered, so
//! the serial order is consistent with real time.
//!
//! Ambiguity is handled in log order: the primary applies entries to the state clients see only
//! once a majority has them. If a round fails after the primary appended entries, their clients
//! get an indeterminate error (504) and the entries stay *pending*; the reads of that group get a
//! definite 503 (they may have seen those writes). Before serving anything else, the primary must
//! first get every pending entry to a majority, or refuse with a definite 503 having done
//! nothing. A restarted primary treats its whole replayed log as pending. Non-primaries forward
//! client requests to the primary.

use crate::config::NodeConfig;
use crate::error::ApiError;
use crate::peer::PeerClient;
use crate::replication::{ship, spawn_shippers, FollowerLens, ReplicatedLog};
use crate::server::Exec;
use crate::store::{aborted, ClientOp, Mop, MopResult};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Most operations waiting at the primary; beyond that clients get a definite 503.
const QUEUE: usize = 4096;
/// Most operations in one group commit.
const MAX_GROUP: usize = 256;

struct Request {
    op: ClientOp,
    reply: oneshot::Sender<Result<Exec, ApiError>>,
}

pub struct Strong {
    cfg: Arc<NodeConfig>,
    pub log: Arc<ReplicatedLog>,
    queue: Option<mpsc::Sender<Request>>,
}

impl Strong {
    pub fn open(cfg: Arc<NodeConfig>, peers: PeerClient) -> Result<Self, crate::NodeError> {
        // A follower may show what it has (local reads only); the primary must re-commit.
        let log = Arc::new(ReplicatedLog::open(&cfg, !cfg.is_primary())?);
        let mut queue = None;
        if cfg.is_primary() {
            let lens = FollowerLens::default();
            // Followers outside the majority of a round catch up in the background.
            spawn_shippers(&cfg, &peers, &log, &lens);
            let (tx, rx) = mpsc::channel(QUEUE);
            let seq = Sequencer {
                cfg: cfg.clone(),
                peers,
                log: log.clone(),
                lens,
            };
            tokio::spawn(seq.run(rx));
            queue = Some(tx);
        }
        Ok(Strong { cfg, log, queue })
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
        let Some(queue) = &self.queue else {
            return Ok(Exec::Forward(self.cfg.peers[&self.cfg.primary]));
        };
        let (reply, rx) = oneshot::channel();
        let req = Request {
            op: op.clone(),
            reply,
        };
        queue.try_send(req).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                ApiError::Unavailable(format!("the primary has {QUEUE} operations queued"))
            }
            mpsc::error::TrySendError::Closed(_) => {
                ApiError::Unavailable("the primary's sequencer stopped".into())
            }
        })?;
        rx.await
            .map_err(|_| ApiError::Indeterminate("the primary's sequencer stopped".into()))?
    }
}

struct Sequencer {
    cfg: Arc<NodeConfig>,
    peers: PeerClient,
    log: Arc<ReplicatedLog>,
    lens: FollowerLens,
}

/// What executing one operation of a group gave.
enum Step {
    Read(Vec<MopResult>),
    Write(Vec<MopResult>, u64),
    Refused(ApiError),
}

impl Sequencer {
    async fn run(self, mut rx: mpsc::Receiver<Request>) {
        loop {
            // When idle, keep trying to commit pending entries, so that after a heal the
            // primary's own state catches up with its followers' even without new operations.
            let first = tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => r,
                    None => return,
                },
                _ = tokio::time::sleep(self.cfg.timeouts.sync_interval) => {
                    let _ = self.commit_pending().await;
                    continue;
                }
            };
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(r) => group.push(r),
                    Err(_) => break,
                }
            }
            self.commit_group(group).await;
        }
    }

    /// Gets every pending entry to a majority and applies it; returns the log length.
    async fn commit_pending(&self) -> Result<u64, String> {
        let (len, applied) = {
            let g = self.log.lock();
            (g.len(), g.applied)
        };
        if applied < len {
            self.majority_round(len).await.map_err(|e| {
                format!(
                    "earlier log entries {}..={len} are not on a majority yet: {e}",
                    applied + 1
                )
            })?;
            self.log.lock().apply_upto(len);
            self.log.publish();
        }
        Ok(len)
    }

    async fn commit_group(&self, group: Vec<Request>) {
        let len = match self.commit_pending().await {
            Ok(len) => len,
            Err(e) => {
                for r in group {
                    let _ = r.reply.send(Err(ApiError::Unavailable(e.clone())));
                }
                return;
            }
        };
        // Execute serially on the visible state plus the group's earlier writes.
        let mut steps = Vec::with_capacity(group.len());
        let mut writes: Vec<Vec<Mop>> = Vec::new();
        let appended = crate::group::blocking(|| {
            let mut g = self.log.lock();
            let mut overlay: BTreeMap<String, Value> = BTreeMap::new();
            for r in &group {
                match g.store.run_over(&overlay, &r.op.mops) {
                    Ok((results, changed)) => {
                        if r.op.read_only() || aborted(&results) {
                            steps.push(Step::Read(results));
                        } else {
                            overlay.extend(changed);
                            writes.push(r.op.writes());
                            steps.push(Step::Write(results, len + writes.len() as u64));
                        }
                    }
                    Err(e) => steps.push(Step::Refused(e)),
                }
            }
            g.append_group(writes)
        });
        let target = match appended {
            Ok(t) => t,
            Err(e) => {
                for r in group {
                    let _ = r.reply.send(Err(ApiError::Internal(e.to_string())));
                }
                return;
            }
        };
        let round = self.majority_round(target).await;
        if round.is_ok() {
            self.log.lock().apply_upto(target);
            self.log.publish();
        }
        for (r, step) in group.into_iter().zip(steps) {
            let answer = match (step, &round) {
                (Step::Refused(e), _) => Err(e),
                (Step::Read(results), Ok(())) => Ok(Exec::Done {
                    results,
                    session: json!(target),
                }),
                (Step::Write(results, index), Ok(())) => Ok(Exec::Done {
                    results,
                    session: json!(index),
                }),
                (Step::Read(_), Err(e)) => Err(ApiError::Unavailable(format!(
                    "cannot confirm a majority for a read: {e}"
                ))),
                (Step::Write(_, index), Err(e)) => Err(ApiError::Indeterminate(format!(
                    "log entry {index} is on the primary but not yet on a majority: {e}"
                ))),
            };
            let _ = r.reply.send(answer);
        }
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
