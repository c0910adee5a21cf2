//! Client of etcd's v3 JSON gateway (`/v3/kv/range|put|txn`): keys and values are base64,
//! int64 fields come back as strings, and proto3 leaves out fields at their default (a failed
//! txn has no `succeeded`, a missing key no `kvs`).
//!
//! Values are stored as JSON text. Multi-key operations (list-append and rw-register
//! transactions, set adds, counter increments, bank transfers) are optimistic read-modify-write:
//! read every key involved with its `mod_revision` in one txn, compute the new values, then
//! commit one txn that compares every key's `mod_revision` (0 for a missing key) and puts the
//! written keys; a failed comparison retries from the read. Since the commit succeeds only if
//! nothing read has changed, each committed transaction is equivalent to executing atomically
//! at its commit. Read-only operations are a single range or a txn of ranges; with
//! `--etcd-reads serializable` they are served from the member's local state.

use crate::bank::{self, Transfer};
use crate::client::{BoxFuture, Client, Target, TargetError};
use crate::generator::{Workload, COUNTER_KEY, SET_KEY};
use crate::op::{Completion, Invocation};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Attempts of an optimistic transaction before it is recorded `fail`.
const MAX_ATTEMPTS: u32 = 16;

/// How reads are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdReads {
    /// Through the raft quorum (etcd's default).
    Linearizable,
    /// From the member's local state (may be stale).
    Serializable,
}

impl EtcdReads {
    pub fn parse(s: &str) -> Option<EtcdReads> {
        match s {
            "linearizable" => Some(EtcdReads::Linearizable),
            "serializable" => Some(EtcdReads::Serializable),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            EtcdReads::Linearizable => "linearizable",
            EtcdReads::Serializable => "serializable",
        }
    }
}

/// An etcd cluster reached through its members' client URLs.
#[derive(Debug, Clone)]
pub struct EtcdTarget {
    /// (member name, client URL such as `http://127.0.0.21:2379`).
    endpoints: Vec<(String, String)>,
    workload: Workload,
    reads: EtcdReads,
    /// Prepended to every key so runs against shared endpoints do not collide.
    prefix: String,
    http: reqwest::Client,
}

impl EtcdTarget {
    pub fn new(
        endpoints: Vec<(String, String)>,
        workload: Workload,
        reads: EtcdReads,
        prefix: String,
        timeout: Duration,
    ) -> Result<Self, TargetError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .pool_max_idle_per_host(1024)
            .build()
            .map_err(|e| TargetError::Http(e.to_string()))?;
        Ok(EtcdTarget {
            endpoints,
            workload,
            reads,
            prefix,
            http,
        })
    }

    fn make(&self, node: usize, local: bool) -> Box<dyn Client> {
        let (name, url) = &self.endpoints[node % self.endpoints.len().max(1)];
        Box::new(EtcdClient {
            http: self.http.clone(),
            base: url.trim_end_matches('/').to_string(),
            node: name.clone(),
            workload: self.workload,
            serializable: local || self.reads == EtcdReads::Serializable,
            prefix: self.prefix.clone(),
            attempt_seed: node as u64,
        })
    }
}

impl Target for EtcdTarget {
    fn name(&self) -> &'static str {
        "etcd"
    }
    fn nodes(&self) -> usize {
        self.endpoints.len()
    }
    fn node_names(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.0.clone()).collect()
    }
    fn client(&self, worker: usize) -> Box<dyn Client> {
        self.make(worker, false)
    }
    fn node_client(&self, node: usize) -> Box<dyn Client> {
        self.make(node, true)
    }
}

/// Why a request did not produce an answer.
#[derive(Debug)]
struct CallError {
    /// The request certainly was not applied (it never reached etcd).
    definite: bool,
    message: String,
}

/// One key as read: its value (parsed JSON) and `mod_revision` (0 when missing).
#[derive(Debug, Clone)]
struct Versioned {
    value: Option<Value>,
    mod_revision: i64,
}

pub struct EtcdClient {
    http: reqwest::Client,
    base: String,
    node: String,
    workload: Workload,
    serializable: bool,
    prefix: String,
    attempt_seed: u64,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// int64 fields arrive as strings; missing means 0.
fn int_field(v: &Value, field: &str) -> i64 {
    match v.get(field) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl EtcdClient {
    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    async fn call(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .map_err(|e| CallError {
                definite: e.is_connect(),
                message: if e.is_timeout() {
                    "timeout".into()
                } else {
                    e.to_string()
                },
            })?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|e| CallError {
            definite: false,
            message: format!("HTTP {status}, unreadable body: {e}"),
        })?;
        if status.is_success() && v.get("error").is_none() {
            Ok(v)
        } else {
            let msg = v
                .get("message")
                .or_else(|| v.get("error"))
                .and_then(|m| m.as_str())
                .unwrap_or("no message");
            Err(CallError {
                definite: false,
                message: format!("HTTP {status}: {msg} (code {})", int_field(&v, "code")),
            })
        }
    }

    fn parse_kv(range_response: &Value) -> Result<Versioned, String> {
        let Some(kv) = range_response.get("kvs").and_then(|k| k.get(0)) else {
            return Ok(Versioned {
                value: None,
                mod_revision: 0,
            });
        };
        let raw = kv.get("value").and_then(|v| v.as_str()).unwrap_or("");
        let bytes = B64
            .decode(raw)
            .map_err(|e| format!("value is not base64: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|e| format!("value is not UTF-8: {e}"))?;
        let value = if text.is_empty() {
            None
        } else {
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| format!("value {text:?} is not JSON: {e}"))?,
            )
        };
        Ok(Versioned {
            value,
            mod_revision: int_field(kv, "mod_revision"),
        })
    }

    /// Reads `keys` in one snapshot (a txn of ranges).
    async fn snapshot(&self, keys: &[String]) -> Result<Vec<Versioned>, CallError> {
        let ranges: Vec<Value> = keys
            .iter()
            .map(|k| {
                json!({"request_range": {"key": b64(&self.key(k)), "serializable": self.serializable}})
            })
            .collect();
        let resp = self
            .call("/v3/kv/txn", &json!({ "success": ranges }))
            .await?;
        let responses = resp
            .get("responses")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        if responses.len() != keys.len() {
            return Err(CallError {
                definite: false,
                message: format!(
                    "txn of {} ranges returned {} responses",
                    keys.len(),
                    responses.len()
                ),
            });
        }
        responses
            .iter()
            .map(|r| {
                Self::parse_kv(r.get("response_range").unwrap_or(&Value::Null)).map_err(|m| {
                    CallError {
                        definite: false,
                        message: m,
                    }
                })
            })
            .collect()
    }

    /// Commits `puts` if every key in `read` still has the `mod_revision` it was read with.
    async fn commit(
        &self,
        read: &[(String, i64)],
        puts: &[(String, Value)],
    ) -> Result<bool, CallError> {
        let compare: Vec<Value> = read
            .iter()
            .map(|(k, rev)| {
                json!({"key": b64(&self.key(k)), "target": "MOD", "result": "EQUAL", "mod_revision": rev.to_string()})
            })
            .collect();
        let success: Vec<Value> = puts
            .iter()
            .map(|(k, v)| {
                json!({"request_put": {"key": b64(&self.key(k)), "value": b64(&v.to_string())}})
            })
            .collect();
        let resp = self
            .call(
                "/v3/kv/txn",
                &json!({"compare": compare, "success": success}),
            )
            .await?;
        Ok(resp.get("succeeded") == Some(&Value::Bool(true)))
    }

    /// Optimistic read-modify-write of `keys`. `apply` gets the values read (None = missing)
    /// and returns the keys to write and the operation's result, or `Err` for a definite
    /// refusal (e.g. insufficient funds).
    async fn rmw<F>(&mut self, keys: Vec<String>, invoked: &Value, mut apply: F) -> Completion
    where
        F: FnMut(&BTreeMap<String, Option<Value>>) -> Result<(Vec<(String, Value)>, Value), String>,
    {
        let node = Some(self.node.clone());
        for attempt in 0..MAX_ATTEMPTS {
            let snap = match self.snapshot(&keys).await {
                Ok(s) => s,
                // Nothing was written yet: the operation certainly did not happen.
                Err(e) => return Completion::fail(invoked.clone(), e.message).with_node(node),
            };
            let state: BTreeMap<String, Option<Value>> = keys
                .iter()
                .cloned()
                .zip(snap.iter().map(|v| v.value.clone()))
                .collect();
            let (puts, result) = match apply(&state) {
                Ok(x) => x,
                Err(why) => return Completion::fail(invoked.clone(), why).with_node(node),
            };
            if puts.is_empty() {
                return Completion::ok(result, node);
            }
            let read: Vec<(String, i64)> = keys
                .iter()
                .cloned()
                .zip(snap.iter().map(|v| v.mod_revision))
                .collect();
            match self.commit(&read, &puts).await {
                Ok(true) => return Completion::ok(result, node),
                Ok(false) => {
                    // Someone else wrote one of the keys; back off a little and retry.
                    tracing::debug!(node = %self.node, attempt, keys = ?keys, "etcd txn conflict, retrying");
                    self.attempt_seed = self.attempt_seed.wrapping_mul(6364136223846793005) + 1;
                    let ms = 1 + (self.attempt_seed >> 33) % (2 << attempt.min(5));
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Err(e) if e.definite => {
                    return Completion::fail(invoked.clone(), e.message).with_node(node)
                }
                Err(e) => return Completion::info(invoked.clone(), e.message).with_node(node),
            }
        }
        Completion::fail(
            invoked.clone(),
            format!("gave up after {MAX_ATTEMPTS} conflicting attempts"),
        )
        .with_node(node)
    }

    async fn read_one(&self, key: &str) -> Result<Option<Value>, String> {
        let body = json!({"key": b64(&self.key(key)), "serializable": self.serializable});
        let resp = self
            .call("/v3/kv/range", &body)
            .await
            .map_err(|e| e.message)?;
        Ok(Self::parse_kv(&resp)?.value)
    }

    async fn register(&mut self, op: &Invocation) -> Completion {
        let node = Some(self.node.clone());
        let Some(key) = op.key.as_ref().map(key_text) else {
            return Completion::fail(op.value.clone(), "register operation without a key");
        };
        match op.f.as_str() {
            "read" => match self.read_one(&key).await {
                Ok(v) => Completion::ok(v.unwrap_or(Value::Null), node),
                Err(e) => Completion::fail(Value::Null, e).with_node(node),
            },
            "write" => {
                let body =
                    json!({"key": b64(&self.key(&key)), "value": b64(&op.value.to_string())});
                match self.call("/v3/kv/put", &body).await {
                    Ok(_) => Completion::ok(op.value.clone(), node.clone()),
                    Err(e) if e.definite => Completion::fail(op.value.clone(), e.message),
                    Err(e) => Completion::info(op.value.clone(), e.message),
                }
                .with_node(node)
            }
            "cas" => {
                let (Some(old), Some(new)) = (op.value.get(0), op.value.get(1)) else {
                    return Completion::fail(op.value.clone(), "cas value must be [old, new]");
                };
                let k = b64(&self.key(&key));
                let body = json!({
                    "compare": [{"key": k, "target": "VALUE", "result": "EQUAL", "value": b64(&old.to_string())}],
                    "success": [{"request_put": {"key": k, "value": b64(&new.to_string())}}],
                });
                match self.call("/v3/kv/txn", &body).await {
                    Ok(r) if r.get("succeeded") == Some(&Value::Bool(true)) => {
                        Completion::ok(op.value.clone(), node)
                    }
                    // The compare did not match: the one failure that observed the register.
                    Ok(_) => Completion::fail(op.value.clone(), history::PRECONDITION_FAILED)
                        .with_node(node),
                    Err(e) if e.definite => Completion::fail(op.value.clone(), e.message),
                    Err(e) => Completion::info(op.value.clone(), e.message).with_node(node),
                }
            }
            other => Completion::fail(op.value.clone(), format!("unknown register op {other:?}")),
        }
    }

    async fn txn(&mut self, op: &Invocation) -> Completion {
        let Some(mops) = op.value.as_array().cloned() else {
            return Completion::fail(op.value.clone(), "txn value must be a list of micro-ops");
        };
        let list = self.workload != Workload::RwRegister;
        let mut keys: Vec<String> = Vec::new();
        for m in &mops {
            let k = key_text(&m[1]);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        self.rmw(keys, &op.value, |state| {
            let mut cur = state.clone();
            let mut dirty: Vec<String> = Vec::new();
            let mut out = Vec::with_capacity(mops.len());
            for m in &mops {
                let (f, k, v) = (m[0].as_str().unwrap_or(""), key_text(&m[1]), &m[2]);
                let slot = cur.entry(k.clone()).or_insert(None);
                match f {
                    "append" => {
                        let mut xs = match slot.take() {
                            Some(Value::Array(xs)) => xs,
                            None | Some(Value::Null) => Vec::new(),
                            Some(other) => {
                                return Err(format!("key {k} holds {other}, not a list"))
                            }
                        };
                        xs.push(v.clone());
                        *slot = Some(Value::Array(xs));
                        dirty.push(k);
                        out.push(m.clone());
                    }
                    "w" => {
                        *slot = Some(v.clone());
                        dirty.push(k);
                        out.push(m.clone());
                    }
                    "r" => {
                        let seen = match slot {
                            Some(x) => x.clone(),
                            None if list => json!([]),
                            None => Value::Null,
                        };
                        out.push(json!(["r", m[1], seen]));
                    }
                    other => return Err(format!("unknown micro-op {other:?}")),
                }
            }
            dirty.sort();
            dirty.dedup();
            let puts = dirty
                .into_iter()
                .map(|k| {
                    let v = cur.get(&k).cloned().flatten().unwrap_or(Value::Null);
                    (k, v)
                })
                .collect();
            Ok((puts, Value::Array(out)))
        })
        .await
    }

    async fn run(&mut self, op: &Invocation) -> Completion {
        let node = Some(self.node.clone());
        match (self.workload, op.f.as_str()) {
            (Workload::Register, _) => self.register(op).await,
            (Workload::ListAppend | Workload::RwRegister, "txn") => self.txn(op).await,
            (Workload::Set, "add") | (Workload::Counter, "increment") => {
                let (key, add) = (
                    if self.workload == Workload::Set {
                        SET_KEY
                    } else {
                        COUNTER_KEY
                    },
                    op.value.clone(),
                );
                let set = self.workload == Workload::Set;
                self.rmw(vec![key.to_string()], &op.value, move |state| {
                    let cur = state.get(key).cloned().flatten();
                    let new = if set {
                        let mut xs = match cur {
                            Some(Value::Array(xs)) => xs,
                            _ => Vec::new(),
                        };
                        xs.push(add.clone());
                        Value::Array(xs)
                    } else {
                        let n = cur.and_then(|c| c.as_i64()).unwrap_or(0);
                        Value::from(n + add.as_i64().unwrap_or(0))
                    };
                    Ok((vec![(key.to_string(), new)], add.clone()))
                })
                .await
            }
            (Workload::Set, "read") => match self.read_one(SET_KEY).await {
                Ok(v) => Completion::ok(v.unwrap_or(json!([])), node),
                Err(e) => Completion::fail(Value::Null, e).with_node(node),
            },
            (Workload::Counter, "read") => match self.read_one(COUNTER_KEY).await {
                Ok(v) => Completion::ok(v.unwrap_or(json!(0)), node),
                Err(e) => Completion::fail(Value::Null, e).with_node(node),
            },
            (Workload::Bank, _) => self.bank(op).await,
            (w, f) => Completion::fail(
                op.value.clone(),
                format!("operation {f:?} is not part of the {} workload", w.name()),
            ),
        }
    }

    async fn bank(&mut self, op: &Invocation) -> Completion {
        let accounts: Vec<String> = bank::all_accounts()
            .into_iter()
            .map(bank::account_key)
            .collect();
        match op.f.as_str() {
            "init" => {
                let init = op.value.clone();
                self.rmw(accounts.clone(), &op.value, move |_| {
                    let puts = bank::all_accounts()
                        .into_iter()
                        .map(|a| (bank::account_key(a), bank::init_balance(&init, a)))
                        .collect();
                    Ok((puts, init.clone()))
                })
                .await
            }
            "read" => {
                let node = Some(self.node.clone());
                match self.snapshot(&accounts).await {
                    Ok(snap) => {
                        let mut m = Map::new();
                        for (a, v) in snap.iter().enumerate() {
                            m.insert(a.to_string(), v.value.clone().unwrap_or(Value::Null));
                        }
                        Completion::ok(Value::Object(m), node)
                    }
                    Err(e) => Completion::fail(Value::Null, e.message).with_node(node),
                }
            }
            "transfer" => {
                let t = match Transfer::parse(&op.value) {
                    Ok(t) => t,
                    Err(e) => return Completion::fail(op.value.clone(), e),
                };
                let (fk, tk) = (bank::account_key(t.from), bank::account_key(t.to));
                let value = op.value.clone();
                self.rmw(vec![fk.clone(), tk.clone()], &op.value, move |state| {
                    let bal = |k: &String| state.get(k).cloned().flatten().and_then(|v| v.as_i64());
                    let (f2, t2) = t.moved(bal(&fk), bal(&tk))?;
                    Ok((
                        vec![(fk.clone(), json!(f2)), (tk.clone(), json!(t2))],
                        value.clone(),
                    ))
                })
                .await
            }
            other => Completion::fail(op.value.clone(), format!("unknown bank op {other:?}")),
        }
    }
}

impl Client for EtcdClient {
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(self.run(op))
    }
}
