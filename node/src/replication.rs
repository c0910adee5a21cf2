//! The primary-ordered replicated log shared by `strong` and `session` modes.
//!
//! The fixed primary numbers every mutating transaction with a log index, appends it durably to
//! its own log *before* sending it anywhere, and ships entries to followers with
//! `POST /peer/append`. Because the primary never rewrites its log, a follower's log is always a
//! prefix of the primary's: a follower appends the entries that extend its log, fsyncs, applies
//! them and answers with its log length. The modes differ in when the primary applies an entry
//! to the state clients see (strong: once a majority has it; session: at once).

use crate::config::NodeConfig;
use crate::error::{ApiError, NodeError};
use crate::log::Log;
use crate::peer::PeerClient;
use crate::store::{Mop, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Most entries shipped in one `/peer/append` request.
pub const MAX_BATCH: usize = 500;

/// One log entry: the mutating micro-ops of one transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub index: u64,
    pub ops: Vec<Mop>,
}

/// `POST /peer/append`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppendRequest {
    pub from: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AppendResponse {
    pub from: String,
    pub log_len: u64,
}

pub struct LogInner {
    log: Log<Entry>,
    entries: Vec<Entry>,
    /// The state clients see: all entries up to `applied` applied in order.
    pub store: Store,
    pub applied: u64,
}

impl LogInner {
    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends a new entry with the next index (on disk once [`LogInner::sync`] returns).
    pub fn append_new(&mut self, ops: Vec<Mop>) -> Result<Entry, NodeError> {
        let e = Entry {
            index: self.len() + 1,
            ops,
        };
        self.log.append(std::slice::from_ref(&e), false)?;
        self.entries.push(e.clone());
        Ok(e)
    }

    pub fn sync(&mut self) -> Result<(), NodeError> {
        self.log.sync()
    }

    /// Durably appends several new entries (one fsync); returns the new log length.
    pub fn append_group(&mut self, group: Vec<Vec<Mop>>) -> Result<u64, NodeError> {
        let first = self.len() + 1;
        let entries: Vec<Entry> = group
            .into_iter()
            .enumerate()
            .map(|(i, ops)| Entry {
                index: first + i as u64,
                ops,
            })
            .collect();
        self.log.append(&entries, true)?;
        self.entries.extend(entries);
        Ok(self.len())
    }

    /// Applies entries up to `upto` to the visible state.
    pub fn apply_upto(&mut self, upto: u64) {
        let upto = upto.min(self.len());
        while self.applied < upto {
            let i = self.applied as usize;
            let ops = self.entries[i].ops.clone();
            self.store.apply(&ops);
            self.applied += 1;
        }
    }

    /// The entries after `known` (a follower's log length), at most [`MAX_BATCH`].
    pub fn batch_after(&self, known: u64) -> Vec<Entry> {
        let start = (known as usize).min(self.entries.len());
        let end = (start + MAX_BATCH).min(self.entries.len());
        self.entries[start..end].to_vec()
    }

    /// Follower side: appends the entries that extend the log (durably), applies them.
    pub fn accept(&mut self, entries: Vec<Entry>) -> Result<(), NodeError> {
        let mut fresh = Vec::new();
        let mut next = self.len() + 1;
        for e in entries {
            if e.index < next {
                continue; // already have it (the primary never rewrites an index)
            }
            if e.index > next {
                break; // a gap: the primary resends from our reported length
            }
            next += 1;
            fresh.push(e);
        }
        self.log.append(&fresh, true)?;
        self.entries.extend(fresh);
        let len = self.len();
        self.apply_upto(len);
        Ok(())
    }
}

/// A replica's log and state, with a watch channel announcing the applied index.
pub struct ReplicatedLog {
    inner: Mutex<LogInner>,
    applied_tx: watch::Sender<u64>,
}

impl ReplicatedLog {
    /// Opens the log; replayed entries are applied at once when `apply_replayed`, otherwise
    /// they stay pending (a restarted strong primary must re-replicate them first).
    pub fn open(cfg: &NodeConfig, apply_replayed: bool) -> Result<Self, NodeError> {
        let (log, entries) = Log::<Entry>::open(&cfg.data_dir, "log.jsonl")?;
        for (i, e) in entries.iter().enumerate() {
            if e.index != i as u64 + 1 {
                return Err(NodeError::CorruptLog {
                    path: cfg.data_dir.join("log.jsonl"),
                    line: i + 1,
                    problem: format!("entry index {} where {} was expected", e.index, i + 1),
                });
            }
        }
        let mut inner = LogInner {
            log,
            entries,
            store: Store::default(),
            applied: 0,
        };
        if apply_replayed {
            let len = inner.len();
            inner.apply_upto(len);
        }
        let (applied_tx, _) = watch::channel(inner.applied);
        Ok(ReplicatedLog {
            inner: Mutex::new(inner),
            applied_tx,
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Announces the applied index to waiters.
    pub fn publish(&self) {
        let applied = self.lock().applied;
        self.applied_tx.send_replace(applied);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied_tx.subscribe()
    }

    /// Handles `POST /peer/append` from the primary.
    pub fn handle_append(&self, me: &str, req: AppendRequest) -> Result<AppendResponse, ApiError> {
        let log_len = {
            let mut g = self.lock();
            g.accept(req.entries)?;
            g.len()
        };
        self.publish();
        Ok(AppendResponse {
            from: me.to_string(),
            log_len,
        })
    }
}

/// What the primary knows of each follower's log length.
pub type FollowerLens = Arc<Mutex<BTreeMap<String, u64>>>;

/// Ships the entries a follower lacks and returns its new log length.
pub async fn ship(
    cfg: &NodeConfig,
    peers: &PeerClient,
    log: &ReplicatedLog,
    lens: &FollowerLens,
    follower: &str,
) -> Result<u64, crate::peer::PeerError> {
    let Some(addr) = cfg.peers.get(follower).copied() else {
        return Ok(0);
    };
    let known = lens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(follower)
        .copied()
        .unwrap_or(0);
    let entries = log.lock().batch_after(known);
    let req = AppendRequest {
        from: cfg.id.clone(),
        entries,
    };
    let resp: AppendResponse = peers
        .call(addr, "/peer/append", &req, cfg.timeouts.peer_rpc)
        .await?;
    lens.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(follower.to_string(), resp.log_len);
    Ok(resp.log_len)
}

/// Starts one background task per follower that ships the log to it: when woken (after a
/// new entry) and at least every sync interval, retrying after failures. Returns the wakers.
pub fn spawn_shippers(
    cfg: &Arc<NodeConfig>,
    peers: &PeerClient,
    log: &Arc<ReplicatedLog>,
    lens: &FollowerLens,
) -> Vec<Arc<tokio::sync::Notify>> {
    let mut wake = Vec::new();
    for (id, _) in cfg.others() {
        let notify = Arc::new(tokio::sync::Notify::new());
        wake.push(notify.clone());
        let (cfg, peers, log, lens, id) = (
            cfg.clone(),
            peers.clone(),
            log.clone(),
            lens.clone(),
            id.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = notify.notified() => {}
                    _ = tokio::time::sleep(cfg.timeouts.sync_interval) => {}
                }
                loop {
                    match ship(&cfg, &peers, &log, &lens, &id).await {
                        Ok(len) if len < log.lock().len() => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::debug!(peer = %id, %e, "shipping failed; will retry");
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                            break;
                        }
                    }
                }
            }
        });
    }
    wake
}
