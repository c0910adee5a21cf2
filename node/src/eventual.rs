//! `eventual` mode: last-writer-wins by the replica's wall clock, asynchronous replication.
//!
//! Every replica accepts reads and writes locally. Each key holds one value stamped
//! `(clock_ms, replica id, replica sequence number)`, where `clock_ms` is this replica's clock
//! (system clock + the control API offset); a value replaces another only if its stamp is
//! higher, locally as well as remotely. A list append is a read-modify-write of the whole list
//! stamped with the local clock, so an append stamped lower than the list it read from (a
//! replica whose clock is behind) is silently lost even though it was acknowledged: that is
//! what this mode demonstrates. Replication: each replica pushes its changed keys to every peer
//! (retrying until the peer acknowledges) and every few seconds pushes its whole state
//! (anti-entropy), so replicas converge once healed and quiet. Promise: convergence only.

use crate::clock::Clock;
use crate::config::NodeConfig;
use crate::error::{ApiError, NodeError};
use crate::log::Log;
use crate::peer::PeerClient;
use crate::server::Exec;
use crate::store::{aborted, appended, ClientOp, MopKind, MopResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Most values in one push (each may be a whole list).
const MAX_BATCH: usize = 100;
/// How often a peer gets this replica's whole state again.
const FULL_SYNC_EVERY: Duration = Duration::from_secs(3);

/// Last-writer-wins order: clock, then replica id, then the replica's sequence number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stamp {
    pub ms: i64,
    pub node: String,
    pub seq: u64,
}

/// A key's value with its stamp: the replication and log record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    pub key: String,
    pub value: Value,
    pub stamp: Stamp,
}

struct Slot {
    value: Value,
    stamp: Stamp,
    change: u64,
}

struct State {
    log: Log<Versioned>,
    keys: BTreeMap<String, Slot>,
    /// change number -> key, for pushing what changed since a peer's watermark.
    changes: BTreeMap<u64, String>,
    last_change: u64,
    seq: u64,
}

impl State {
    /// Last-writer-wins merge; true if `v` won.
    fn merge(&mut self, v: &Versioned) -> bool {
        if let Some(s) = self.keys.get(&v.key) {
            if s.stamp >= v.stamp {
                return false;
            }
            self.changes.remove(&s.change);
        }
        self.last_change += 1;
        self.changes.insert(self.last_change, v.key.clone());
        self.keys.insert(
            v.key.clone(),
            Slot {
                value: v.value.clone(),
                stamp: v.stamp.clone(),
                change: self.last_change,
            },
        );
        true
    }
}

/// `POST /peer/merge`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MergeRequest {
    pub from: String,
    pub items: Vec<Versioned>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MergeResponse {
    pub from: String,
    pub changed: usize,
}

pub struct Eventual {
    cfg: Arc<NodeConfig>,
    clock: Arc<Clock>,
    state: Mutex<State>,
    wake: Vec<Arc<Notify>>,
    group: std::sync::OnceLock<crate::group::Group>,
}

impl Eventual {
    pub fn open(
        cfg: Arc<NodeConfig>,
        clock: Arc<Clock>,
        peers: PeerClient,
    ) -> Result<Arc<Self>, NodeError> {
        let (log, records) = Log::<Versioned>::open(&cfg.data_dir, "log.jsonl")?;
        let mut state = State {
            log,
            keys: BTreeMap::new(),
            changes: BTreeMap::new(),
            last_change: 0,
            seq: 0,
        };
        for r in &records {
            if r.stamp.node == cfg.id {
                state.seq = state.seq.max(r.stamp.seq);
            }
            state.merge(r);
        }
        let wake: Vec<Arc<Notify>> = cfg.others().map(|_| Arc::new(Notify::new())).collect();
        let me = Arc::new(Eventual {
            cfg: cfg.clone(),
            clock,
            state: Mutex::new(state),
            wake: wake.clone(),
            group: std::sync::OnceLock::new(),
        });
        let runner = me.clone();
        let _ = me
            .group
            .set(crate::group::Group::spawn(move |ops| runner.run_group(ops)));
        for ((id, _), notify) in cfg.others().zip(wake) {
            tokio::spawn(sync_peer(me.clone(), peers.clone(), id.clone(), notify));
        }
        Ok(me)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log_len(&self) -> u64 {
        self.lock().log.len()
    }

    pub fn keys(&self) -> Vec<String> {
        self.lock().keys.keys().cloned().collect()
    }

    pub async fn execute(&self, op: &ClientOp) -> Result<Exec, ApiError> {
        if op.read_only() {
            let mut g = self.lock();
            return self.run_one(&mut g, op);
        }
        match self.group.get() {
            Some(group) => group.submit(op.clone()).await,
            None => Err(ApiError::Unavailable("the replica is starting".into())),
        }
    }

    /// Runs a group of write transactions with one fsync (see [`crate::group`]).
    fn run_group(&self, ops: Vec<ClientOp>) -> Vec<Result<Exec, ApiError>> {
        let mut g = self.lock();
        let mut results: Vec<_> = ops.iter().map(|op| self.run_one(&mut g, op)).collect();
        if let Err(e) = g.log.sync() {
            results = crate::group::fail_unsynced(results, &e);
        }
        drop(g);
        for w in &self.wake {
            w.notify_one();
        }
        results
    }

    /// Runs one transaction; its log records are written but not yet fsynced.
    fn run_one(&self, g: &mut State, op: &ClientOp) -> Result<Exec, ApiError> {
        // The transaction runs on a scratch copy of the keys it touches with the same
        // last-writer-wins rule, so nothing is applied if a micro-op is refused.
        let mut scratch: BTreeMap<String, (Value, Option<Stamp>)> = BTreeMap::new();
        let mut writes: Vec<Versioned> = Vec::new();
        let mut results = Vec::with_capacity(op.mops.len());
        let mut seq = g.seq;
        for m in &op.mops {
            let slot = scratch.entry(m.key.clone()).or_insert_with(|| {
                g.keys
                    .get(&m.key)
                    .map(|s| (s.value.clone(), Some(s.stamp.clone())))
                    .unwrap_or((Value::Null, None))
            });
            let mut put = |slot: &mut (Value, Option<Stamp>), v: Value| {
                seq += 1;
                let stamp = Stamp {
                    ms: self.clock.now_ms(),
                    node: self.cfg.id.clone(),
                    seq,
                };
                if slot.1.as_ref().map(|w| w < &stamp).unwrap_or(true) {
                    *slot = (v.clone(), Some(stamp.clone()));
                }
                writes.push(Versioned {
                    key: m.key.clone(),
                    value: v,
                    stamp,
                });
            };
            let res = match m.f {
                MopKind::Read => MopResult {
                    value: slot.0.clone(),
                    ok: true,
                },
                MopKind::Write => {
                    put(slot, m.value.clone());
                    MopResult {
                        value: m.value.clone(),
                        ok: true,
                    }
                }
                MopKind::Append => {
                    let list = appended(&slot.0, &m.value, &m.key)?;
                    put(slot, list);
                    MopResult {
                        value: m.value.clone(),
                        ok: true,
                    }
                }
                MopKind::Cas => {
                    let pair = m.value.as_array().cloned().unwrap_or_default();
                    let ok = pair.len() == 2 && slot.0 == pair[0];
                    if ok {
                        put(slot, pair[1].clone());
                    }
                    MopResult {
                        value: m.value.clone(),
                        ok,
                    }
                }
            };
            results.push(res);
        }
        if !writes.is_empty() && !aborted(&results) {
            g.log.append(&writes, false)?;
            g.seq = seq;
            for w in &writes {
                g.merge(w);
            }
        }
        Ok(Exec::Done {
            results,
            session: Value::Null,
        })
    }

    /// Handles `POST /peer/merge`.
    pub fn handle_merge(&self, req: MergeRequest) -> Result<MergeResponse, ApiError> {
        let mut g = self.lock();
        let won: Vec<Versioned> = req.items.into_iter().filter(|v| g.merge(v)).collect();
        g.log.append(&won, true)?;
        Ok(MergeResponse {
            from: self.cfg.id.clone(),
            changed: won.len(),
        })
    }

    /// Keys changed after `watermark`, at most [`MAX_BATCH`], with the last change number.
    fn changes_after(&self, watermark: u64) -> (Vec<Versioned>, u64) {
        let g = self.lock();
        let mut last = watermark;
        let items = g
            .changes
            .range(watermark + 1..)
            .take(MAX_BATCH)
            .filter_map(|(c, k)| {
                last = *c;
                g.keys.get(k).map(|s| Versioned {
                    key: k.clone(),
                    value: s.value.clone(),
                    stamp: s.stamp.clone(),
                })
            })
            .collect();
        (items, last)
    }
}

/// Pushes changed keys to one peer (retrying until acknowledged), and the whole state every
/// [`FULL_SYNC_EVERY`].
async fn sync_peer(node: Arc<Eventual>, peers: PeerClient, id: String, notify: Arc<Notify>) {
    let Some(addr) = node.cfg.peers.get(&id).copied() else {
        return;
    };
    let mut watermark = 0u64;
    let mut last_full = Instant::now();
    loop {
        if last_full.elapsed() >= FULL_SYNC_EVERY {
            watermark = 0;
            last_full = Instant::now();
        }
        let (items, last) = node.changes_after(watermark);
        let full = items.len() == MAX_BATCH;
        if !items.is_empty() {
            let req = MergeRequest {
                from: node.cfg.id.clone(),
                items,
            };
            match peers
                .call::<_, MergeResponse>(addr, "/peer/merge", &req, node.cfg.timeouts.peer_rpc)
                .await
            {
                Ok(_) => {
                    watermark = last;
                    if full {
                        continue;
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = %id, %e, "push failed; will retry");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(node.cfg.timeouts.sync_interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn higher_stamp_wins_in_any_order() {
        let d = tempfile::tempdir().unwrap();
        let mk = || State {
            log: Log::open(d.path(), "x.jsonl").unwrap().0,
            keys: BTreeMap::new(),
            changes: BTreeMap::new(),
            last_change: 0,
            seq: 0,
        };
        let v = |ms, node: &str, val| Versioned {
            key: "k".into(),
            value: json!(val),
            stamp: Stamp {
                ms,
                node: node.into(),
                seq: 1,
            },
        };
        let (a, b) = (v(10, "1", 1), v(10, "2", 2));
        let mut s1 = mk();
        assert!(s1.merge(&a) && s1.merge(&b));
        let mut s2 = mk();
        assert!(s2.merge(&b) && !s2.merge(&a));
        assert_eq!(s1.keys["k"].value, s2.keys["k"].value);
        assert_eq!(s1.changes.len(), 1, "a key has one change entry");
    }
}
