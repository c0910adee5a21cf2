//! Client of the built-in store (`faultline node`), following docs/node-api.md: register ops on
//! `/kv/register`, transactions on `/kv/txn`, the session token carried per worker.
//!
//! Set adds are appends to one list; counter increments are appends of the increment, and a
//! counter read sums the list. Both are single atomic requests at the node, so no client-side
//! read-modify-write can lose an update. Bank transfers read both balances, then send one
//! transaction with `cas` preconditions on both (see `bank.rs`).

use crate::bank::{self, Transfer};
use crate::client::{BoxFuture, Client, Target, TargetError};
use crate::generator::{Workload, COUNTER_KEY, SET_KEY};
use crate::op::{Completion, Invocation};
use serde_json::{json, Value};
use std::time::Duration;

/// A running built-in cluster: node names and their `host:port` addresses.
#[derive(Debug, Clone)]
pub struct BuiltinTarget {
    nodes: Vec<(String, String)>,
    workload: Workload,
    http: reqwest::Client,
}

impl BuiltinTarget {
    /// `nodes`: (name, "127.0.0.11:7001") in node order; `timeout`: per-request limit, after
    /// which an operation is recorded `info`.
    pub fn new(
        nodes: Vec<(String, String)>,
        workload: Workload,
        timeout: Duration,
    ) -> Result<Self, TargetError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .pool_max_idle_per_host(1024)
            .build()
            .map_err(|e| TargetError::Http(e.to_string()))?;
        Ok(BuiltinTarget {
            nodes,
            workload,
            http,
        })
    }

    fn make(&self, node: usize, local: bool) -> Box<dyn Client> {
        let (name, addr) = &self.nodes[node % self.nodes.len().max(1)];
        Box::new(BuiltinClient {
            http: self.http.clone(),
            base: format!("http://{addr}"),
            node: name.clone(),
            workload: self.workload,
            session: Value::Null,
            local,
        })
    }
}

impl Target for BuiltinTarget {
    fn name(&self) -> &'static str {
        "builtin"
    }
    fn nodes(&self) -> usize {
        self.nodes.len()
    }
    fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.0.clone()).collect()
    }
    fn client(&self, worker: usize) -> Box<dyn Client> {
        self.make(worker, false)
    }
    fn node_client(&self, node: usize) -> Box<dyn Client> {
        self.make(node, true)
    }
}

/// One worker's session with one replica.
pub struct BuiltinClient {
    http: reqwest::Client,
    base: String,
    node: String,
    workload: Workload,
    session: Value,
    local: bool,
}

/// The answer of one request: the JSON body, or how it failed.
enum Reply {
    Ok(Value),
    Fail(String),
    Info(String),
}

impl BuiltinClient {
    async fn post(&mut self, path: &str, mut body: Value) -> Reply {
        body["session"] = self.session.clone();
        if self.local {
            body["local"] = Value::Bool(true);
        }
        let resp = match self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            // The request never reached the node: it cannot have taken effect.
            Err(e) if e.is_connect() => return Reply::Fail(format!("connect: {e}")),
            Err(e) if e.is_timeout() => return Reply::Info("timeout".into()),
            Err(e) => return Reply::Info(e.to_string()),
        };
        let status = resp.status();
        let body: Value = match resp.json().await {
            Ok(v) => v,
            Err(e) => return Reply::Info(format!("HTTP {status}, unreadable body: {e}")),
        };
        if status.is_success() {
            if let Some(s) = body.get("session") {
                if !s.is_null() {
                    self.session = s.clone();
                }
            }
            return Reply::Ok(body);
        }
        let msg = body
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no error message")
            .to_string();
        tracing::debug!(node = %self.node, %status, error = %msg, "builtin store refused a request");
        if status.as_u16() == 503 && body.get("definite") == Some(&Value::Bool(true)) {
            Reply::Fail(msg)
        } else {
            Reply::Info(format!("HTTP {status}: {msg}"))
        }
    }

    async fn txn(&mut self, mops: Value) -> Result<(Value, Option<String>), Completion> {
        let (ops, _, node) = self.cond_txn(mops).await?;
        Ok((ops, node))
    }

    /// A transaction that may carry `cas` preconditions: its micro-ops, whether the
    /// preconditions held (if not, it had no effect), and the node that served it.
    async fn cond_txn(&mut self, mops: Value) -> Result<(Value, bool, Option<String>), Completion> {
        match self.post("/kv/txn", json!({ "ops": mops.clone() })).await {
            Reply::Ok(body) => {
                let node = node_of(&body).or_else(|| Some(self.node.clone()));
                let ok = body.get("ok") != Some(&Value::Bool(false));
                match body.get("ops") {
                    Some(ops @ Value::Array(_)) => Ok((ops.clone(), ok, node)),
                    _ => Err(Completion::info(mops, "response has no `ops` list")),
                }
            }
            Reply::Fail(e) => Err(Completion::fail(mops, e)),
            Reply::Info(e) => Err(Completion::info(mops, e)),
        }
    }

    /// One bank operation (`init`, `read`, `transfer`) as transactions (see `bank.rs`).
    async fn bank(&mut self, op: &Invocation) -> Completion {
        let here = Some(self.node.clone());
        let with_value = |c: Completion, v: &Value| Completion {
            value: v.clone(),
            ..c
        };
        match op.f.as_str() {
            "init" => match self.txn(bank::init_txn(&op.value)).await {
                Ok((_, node)) => Completion::ok(op.value.clone(), node),
                Err(c) => with_value(c, &op.value).with_node(here),
            },
            "read" => {
                let accounts = bank::all_accounts();
                match self.txn(bank::read_txn(&accounts)).await {
                    Ok((ops, node)) => match bank::balances_of(&accounts, &ops) {
                        Ok(b) => Completion::ok(bank::read_value(&accounts, &b), node),
                        Err(e) => Completion::info(Value::Null, e).with_node(node),
                    },
                    Err(c) => with_value(c, &Value::Null).with_node(here),
                }
            }
            "transfer" => {
                let t = match Transfer::parse(&op.value) {
                    Ok(t) => t,
                    Err(e) => return Completion::fail(op.value.clone(), e).with_node(here),
                };
                // Reading has no effect: however the read ends, a transfer that stops here
                // certainly did not happen.
                let (ops, node) = match self.txn(bank::read_txn(&[t.from, t.to])).await {
                    Ok(r) => r,
                    Err(c) => {
                        let why = c.error.unwrap_or_default();
                        return Completion::fail(
                            op.value.clone(),
                            format!("reading the balances: {why}"),
                        )
                        .with_node(here);
                    }
                };
                let plan =
                    bank::balances_of(&[t.from, t.to], &ops).and_then(|b| t.plan(b[0], b[1]));
                let mops = match plan {
                    Ok(m) => m,
                    Err(e) => return Completion::fail(op.value.clone(), e).with_node(node),
                };
                match self.cond_txn(mops).await {
                    Ok((_, true, node)) => Completion::ok(op.value.clone(), node),
                    Ok((_, false, node)) => Completion::fail(
                        op.value.clone(),
                        "a balance changed since it was read: cas precondition false",
                    )
                    .with_node(node),
                    Err(c) => with_value(c, &op.value).with_node(here),
                }
            }
            other => Completion::fail(op.value.clone(), format!("unknown bank op {other:?}")),
        }
    }

    async fn run(&mut self, op: &Invocation) -> Completion {
        let here = Some(self.node.clone());
        if self.workload == Workload::Bank {
            return self.bank(op).await;
        }
        match op.f.as_str() {
            "read" | "write" | "cas" if self.workload == Workload::Register => {
                let body = json!({"f": op.f, "key": op.key, "value": op.value});
                match self.post("/kv/register", body).await {
                    Reply::Ok(b) => {
                        let node = node_of(&b).or(here);
                        if b.get("ok") == Some(&Value::Bool(false)) {
                            // The compare did not match: an observation, which the history
                            // records with its own error (docs/history-format.md). Every
                            // other failure means only that the op did not happen.
                            Completion::fail(op.value.clone(), history::PRECONDITION_FAILED)
                                .with_node(node)
                        } else if op.f == "read" {
                            Completion::ok(b.get("value").cloned().unwrap_or(Value::Null), node)
                        } else {
                            Completion::ok(op.value.clone(), node)
                        }
                    }
                    Reply::Fail(e) => Completion::fail(op.value.clone(), e).with_node(here),
                    Reply::Info(e) => Completion::info(op.value.clone(), e).with_node(here),
                }
            }
            "txn" => match self.txn(op.value.clone()).await {
                Ok((ops, node)) => Completion::ok(ops, node),
                Err(c) => c.with_node(here),
            },
            "add" => match self.txn(json!([["append", SET_KEY, op.value]])).await {
                Ok((_, node)) => Completion::ok(op.value.clone(), node),
                Err(c) => Completion {
                    value: op.value.clone(),
                    ..c
                }
                .with_node(here),
            },
            "increment" => match self.txn(json!([["append", COUNTER_KEY, op.value]])).await {
                Ok((_, node)) => Completion::ok(op.value.clone(), node),
                Err(c) => Completion {
                    value: op.value.clone(),
                    ..c
                }
                .with_node(here),
            },
            "read" => {
                let key = if self.workload == Workload::Counter {
                    COUNTER_KEY
                } else {
                    SET_KEY
                };
                match self.txn(json!([["r", key, null]])).await {
                    Ok((ops, node)) => {
                        let list = ops[0][2].clone();
                        let list = if list.is_null() { json!([]) } else { list };
                        if key == COUNTER_KEY {
                            let sum: Option<i64> = list
                                .as_array()
                                .map(|xs| xs.iter().map(|x| x.as_i64()).sum::<Option<i64>>())
                                .unwrap_or(None);
                            match sum {
                                Some(s) => Completion::ok(Value::from(s), node),
                                None => Completion::info(
                                    Value::Null,
                                    format!("counter list is not a list of integers: {list}"),
                                ),
                            }
                        } else {
                            Completion::ok(list, node)
                        }
                    }
                    Err(c) => Completion {
                        value: Value::Null,
                        ..c
                    }
                    .with_node(here),
                }
            }
            other => Completion::fail(
                op.value.clone(),
                format!("operation {other:?} is not supported by the builtin target"),
            ),
        }
    }
}

fn node_of(body: &Value) -> Option<String> {
    match body.get("node") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

impl Client for BuiltinClient {
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(self.run(op))
    }
}
