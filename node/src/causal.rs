//! `causal` mode: every replica accepts reads and writes locally; causality is tracked with
//! vector clocks and remote updates are applied only after everything they depend on.
//!
//! A write transaction becomes an [`Event`] `(origin, seq, lamport, deps)` where `deps` is the
//! origin's vector clock when it executed. A replica applies a remote event once it has applied
//! `seq - 1` events of that origin and everything in `deps`. Concurrent updates are arbitrated by
//! the stamp `(lamport, origin, position in the transaction)`: a register holds the write with
//! the highest stamp, a list is its appends sorted by stamp (after the latest write). Replicas
//! that applied the same events therefore hold the same state. A read may show a concurrent
//! append sorted *before* an element the session saw earlier; causal+ allows that.
//!
//! Replication is push with retry plus anti-entropy: for each peer a task sends, in this
//! replica's applied (causal) order, the events the peer's last reported vector clock lacks,
//! including events other replicas originated, so a healed partition converges even when the
//! origin is still cut off. The session token is a vector clock: a replica serving a request
//! first waits until it has applied everything the token covers (or answers 503).

use crate::config::NodeConfig;
use crate::error::{ApiError, NodeError};
use crate::log::Log;
use crate::peer::PeerClient;
use crate::server::Exec;
use crate::store::{aborted, appended, ClientOp, Mop, MopKind, MopResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// A vector clock: events applied per origin.
pub type Vc = BTreeMap<String, u64>;

/// Most events in one push; most buffered events waiting for their dependencies.
const MAX_BATCH: usize = 500;
const MAX_PENDING: usize = 100_000;

/// One write transaction as replicated (reads dropped, successful cas turned into writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub origin: String,
    pub seq: u64,
    pub lamport: u64,
    pub deps: Vc,
    pub ops: Vec<Mop>,
}

/// Arbitration order of concurrent updates.
type Stamp = (u64, String, usize);

#[derive(Debug, Clone, Default)]
struct KeyState {
    write: Option<(Stamp, Value)>,
    appends: BTreeMap<Stamp, Value>,
}

impl KeyState {
    /// The value: the latest write followed by the appends stamped after it. A non-list
    /// write followed by appends counts as the empty list (appends never fail remotely).
    fn value(&self) -> Value {
        let base = self.write.as_ref().map(|(_, v)| v.clone());
        if self.appends.is_empty() {
            return base.unwrap_or(Value::Null);
        }
        let mut list = match base {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        list.extend(self.appends.values().cloned());
        Value::Array(list)
    }

    fn apply(&mut self, stamp: Stamp, m: &Mop) {
        match m.f {
            MopKind::Append => {
                if after_write(self.write.as_ref(), &stamp) {
                    self.appends.insert(stamp, m.value.clone());
                }
            }
            _ => {
                if after_write(self.write.as_ref(), &stamp) {
                    self.appends = self.appends.split_off(&stamp);
                    self.write = Some((stamp, m.value.clone()));
                }
            }
        }
    }
}

/// Whether an update stamped `s` is newer than the key's latest write (if any).
fn after_write(write: Option<&(Stamp, Value)>, s: &Stamp) -> bool {
    write.map(|(w, _)| w < s).unwrap_or(true)
}

/// Whether `have` covers `want`.
pub fn covers(have: &Vc, want: &Vc) -> bool {
    want.iter()
        .all(|(k, n)| have.get(k).copied().unwrap_or(0) >= *n)
}

struct State {
    log: Log<Event>,
    vc: Vc,
    lamport: u64,
    /// Every applied event in applied order (a causal order).
    applied: Vec<Event>,
    pending: Vec<Event>,
    keys: BTreeMap<String, KeyState>,
}

impl State {
    fn record(&mut self, e: Event) {
        self.vc.insert(e.origin.clone(), e.seq);
        self.lamport = self.lamport.max(e.lamport);
        self.applied.push(e);
    }

    fn apply(&mut self, e: Event) {
        for (i, m) in e.ops.iter().enumerate() {
            self.keys
                .entry(m.key.clone())
                .or_default()
                .apply((e.lamport, e.origin.clone(), i), m);
        }
        self.record(e);
    }

    fn deliverable(&self, e: &Event) -> bool {
        let have = |k: &str| self.vc.get(k).copied().unwrap_or(0);
        have(&e.origin) + 1 == e.seq && e.deps.iter().all(|(k, n)| k == &e.origin || have(k) >= *n)
    }

    #[cfg(test)]
    fn get(&self, key: &str) -> Value {
        self.keys
            .get(key)
            .map(KeyState::value)
            .unwrap_or(Value::Null)
    }

    /// Applies every pending event whose dependencies are met; returns those applied.
    fn deliver(&mut self) -> Vec<Event> {
        let mut done = Vec::new();
        loop {
            self.pending
                .sort_by(|a, b| (a.lamport, &a.origin, a.seq).cmp(&(b.lamport, &b.origin, b.seq)));
            let Some(i) = self.pending.iter().position(|e| self.deliverable(e)) else {
                break;
            };
            let e = self.pending.remove(i);
            self.apply(e.clone());
            done.push(e);
        }
        done
    }
}

/// `POST /peer/events`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventsRequest {
    pub from: String,
    pub events: Vec<Event>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EventsResponse {
    pub from: String,
    pub vc: Vc,
}

pub struct Causal {
    cfg: Arc<NodeConfig>,
    state: Mutex<State>,
    applied_tx: watch::Sender<u64>,
    wake: Vec<Arc<Notify>>,
    group: std::sync::OnceLock<crate::group::Group>,
}

fn token(v: &Value) -> Result<Vc, ApiError> {
    match v {
        Value::Null => Ok(Vc::new()),
        v => serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::BadRequest(format!(
                "session token {v} is not a causal-mode vector clock"
            ))
        }),
    }
}

impl Causal {
    pub fn open(cfg: Arc<NodeConfig>, peers: PeerClient) -> Result<Arc<Self>, NodeError> {
        let (log, events) = Log::<Event>::open(&cfg.data_dir, "log.jsonl")?;
        let mut state = State {
            log,
            vc: Vc::new(),
            lamport: 0,
            applied: Vec::new(),
            pending: Vec::new(),
            keys: BTreeMap::new(),
        };
        for (i, e) in events.into_iter().enumerate() {
            if !state.deliverable(&e) {
                return Err(NodeError::CorruptLog {
                    path: cfg.data_dir.join("log.jsonl"),
                    line: i + 1,
                    problem: format!("event {}#{} out of causal order", e.origin, e.seq),
                });
            }
            state.apply(e);
        }
        let (applied_tx, _) = watch::channel(state.applied.len() as u64);
        let wake: Vec<Arc<Notify>> = cfg.others().map(|_| Arc::new(Notify::new())).collect();
        let me = Arc::new(Causal {
            cfg: cfg.clone(),
            state: Mutex::new(state),
            applied_tx,
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

    fn publish(&self) {
        let n = self.lock().applied.len() as u64;
        self.applied_tx.send_replace(n);
        for w in &self.wake {
            w.notify_one();
        }
    }

    pub async fn execute(&self, op: &ClientOp) -> Result<Exec, ApiError> {
        let want = token(&op.session)?;
        if !op.local {
            self.wait_for(&want).await?;
        }
        if op.read_only() {
            let mut g = self.lock();
            return self.run_one(&mut g, op);
        }
        match self.group.get() {
            Some(group) => group.submit(op.clone()).await,
            None => Err(ApiError::Unavailable("the replica is starting".into())),
        }
    }

    async fn wait_for(&self, want: &Vc) -> Result<(), ApiError> {
        let deadline = Instant::now() + self.cfg.timeouts.session_wait;
        let mut rx = self.applied_tx.subscribe();
        loop {
            if covers(&self.lock().vc, want) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, rx.changed()).await.is_err() {
                return Err(ApiError::Unavailable(
                    "this replica has not yet applied everything the session token covers".into(),
                ));
            }
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
        self.publish();
        results
    }

    /// Runs one transaction; its log record is written but not yet fsynced.
    fn run_one(&self, g: &mut State, op: &ClientOp) -> Result<Exec, ApiError> {
        let me = self.cfg.id.clone();
        let lamport = g.lamport + 1;
        let mut scratch: BTreeMap<String, KeyState> = BTreeMap::new();
        let mut ops: Vec<Mop> = Vec::new();
        let mut results = Vec::with_capacity(op.mops.len());
        for m in &op.mops {
            let ks = scratch
                .entry(m.key.clone())
                .or_insert_with(|| g.keys.get(&m.key).cloned().unwrap_or_default());
            let cur = ks.value();
            let write = |ops: &mut Vec<Mop>, ks: &mut KeyState, f: MopKind, v: Value| {
                let m2 = Mop {
                    f,
                    key: m.key.clone(),
                    value: v,
                };
                ks.apply((lamport, me.clone(), ops.len()), &m2);
                ops.push(m2);
            };
            let res = match m.f {
                MopKind::Read => MopResult {
                    value: cur,
                    ok: true,
                },
                MopKind::Write => {
                    write(&mut ops, ks, MopKind::Write, m.value.clone());
                    MopResult {
                        value: m.value.clone(),
                        ok: true,
                    }
                }
                MopKind::Append => {
                    appended(&cur, &m.value, &m.key)?; // refuses appends to a non-list
                    write(&mut ops, ks, MopKind::Append, m.value.clone());
                    MopResult {
                        value: m.value.clone(),
                        ok: true,
                    }
                }
                MopKind::Cas => {
                    let pair = m.value.as_array().cloned().unwrap_or_default();
                    let ok = pair.len() == 2 && cur == pair[0];
                    if ok {
                        write(&mut ops, ks, MopKind::Write, pair[1].clone());
                    }
                    MopResult {
                        value: m.value.clone(),
                        ok,
                    }
                }
            };
            results.push(res);
        }
        if !ops.is_empty() && !aborted(&results) {
            let e = Event {
                origin: me.clone(),
                seq: g.vc.get(&me).copied().unwrap_or(0) + 1,
                lamport,
                deps: g.vc.clone(),
                ops,
            };
            g.log.append(std::slice::from_ref(&e), false)?;
            g.keys.extend(scratch);
            g.record(e);
        }
        let session = serde_json::to_value(&g.vc).unwrap_or(Value::Null);
        Ok(Exec::Done { results, session })
    }

    /// Handles `POST /peer/events`.
    pub fn handle_events(&self, req: EventsRequest) -> Result<EventsResponse, ApiError> {
        let vc = {
            let mut g = self.lock();
            for e in req.events {
                let dup = g.vc.get(&e.origin).copied().unwrap_or(0) >= e.seq
                    || g.pending
                        .iter()
                        .any(|p| p.origin == e.origin && p.seq == e.seq);
                if !dup && g.pending.len() < MAX_PENDING {
                    g.pending.push(e);
                }
            }
            let done = g.deliver();
            g.log.append(&done, true)?;
            g.vc.clone()
        };
        self.publish();
        Ok(EventsResponse {
            from: self.cfg.id.clone(),
            vc,
        })
    }

    /// The events a peer with vector clock `known` lacks, in causal order, from `cursor` on.
    fn batch_for(&self, known: &Vc, cursor: &mut usize) -> Vec<Event> {
        let g = self.lock();
        let lacks = |e: &Event| known.get(&e.origin).copied().unwrap_or(0) < e.seq;
        while *cursor < g.applied.len() && !lacks(&g.applied[*cursor]) {
            *cursor += 1;
        }
        g.applied[(*cursor).min(g.applied.len())..]
            .iter()
            .filter(|e| lacks(e))
            .take(MAX_BATCH)
            .cloned()
            .collect()
    }
}

/// Pushes to one peer what it lacks, forever: on every local change, and at least every
/// sync interval (refreshing the peer's vector clock: anti-entropy).
async fn sync_peer(node: Arc<Causal>, peers: PeerClient, id: String, notify: Arc<Notify>) {
    let Some(addr) = node.cfg.peers.get(&id).copied() else {
        return;
    };
    let mut known = Vc::new();
    let mut cursor = 0usize;
    loop {
        let events = node.batch_for(&known, &mut cursor);
        let full = events.len() == MAX_BATCH;
        let req = EventsRequest {
            from: node.cfg.id.clone(),
            events,
        };
        match peers
            .call::<_, EventsResponse>(addr, "/peer/events", &req, node.cfg.timeouts.peer_rpc)
            .await
        {
            Ok(resp) => {
                if !covers(&resp.vc, &known) {
                    cursor = 0; // the peer lost state: resend from the start
                }
                known = resp.vc;
                if full {
                    continue;
                }
            }
            Err(e) => {
                tracing::debug!(peer = %id, %e, "push failed; will retry");
                tokio::time::sleep(Duration::from_millis(200)).await;
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

    fn ev(origin: &str, seq: u64, lamport: u64, deps: &[(&str, u64)], ops: Vec<Mop>) -> Event {
        Event {
            origin: origin.into(),
            seq,
            lamport,
            deps: deps.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ops,
        }
    }
    fn append(k: &str, v: i64) -> Mop {
        Mop {
            f: MopKind::Append,
            key: k.into(),
            value: json!(v),
        }
    }
    fn write(k: &str, v: Value) -> Mop {
        Mop {
            f: MopKind::Write,
            key: k.into(),
            value: v,
        }
    }

    fn state(dir: &std::path::Path) -> State {
        State {
            log: Log::open(dir, "log.jsonl").unwrap().0,
            vc: Vc::new(),
            lamport: 0,
            applied: vec![],
            pending: vec![],
            keys: BTreeMap::new(),
        }
    }

    #[test]
    fn dependent_event_waits_and_replicas_converge_in_any_order() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let a1 = ev("1", 1, 1, &[], vec![append("x", 1)]);
        let b1 = ev("2", 1, 2, &[("1", 1)], vec![append("x", 2)]);
        let c1 = ev("3", 1, 1, &[], vec![append("x", 3), write("y", json!(9))]);
        let mut s1 = state(d1.path());
        s1.pending = vec![b1.clone(), c1.clone()];
        assert_eq!(s1.deliver().len(), 1, "b1 depends on a1 and must wait");
        s1.pending.push(a1.clone());
        assert_eq!(s1.deliver().len(), 2);
        let mut s2 = state(d2.path());
        s2.pending = vec![c1, a1, b1];
        s2.deliver();
        // (1,"1") < (1,"3") < (2,"2")
        assert_eq!(s1.get("x"), json!([1, 3, 2]));
        assert_eq!(s2.get("x"), s1.get("x"));
        assert_eq!(s2.get("y"), json!(9));
    }

    #[test]
    fn a_later_write_hides_earlier_appends() {
        let mut k = KeyState::default();
        k.apply((1, "1".into(), 0), &append("x", 1));
        k.apply((3, "1".into(), 0), &write("x", json!([7])));
        k.apply((2, "2".into(), 0), &append("x", 2)); // concurrent, older: hidden
        k.apply((4, "2".into(), 0), &append("x", 3));
        assert_eq!(k.value(), json!([7, 3]));
    }
}
