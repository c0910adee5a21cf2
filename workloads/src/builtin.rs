//! Client of the built-in store (`faultline node`), following docs/node-api.md: register ops on
//! `/kv/register`, transactions on `/kv/txn`, the session token carried per worker.
//!
//! Set adds are appends to one list; counter increments are appends of the increment, and a
//! counter read sums the list. Both are single atomic requests at the node, so no client-side
//! read-modify-write can lose an update. Bank transfers need a multi-key conditional write,
//! which the store does not offer, so the bank workload is not supported here.

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
    fn supports(&self, w: Workload) -> Result<(), TargetError> {
        match w {
            Workload::Bank => Err(TargetError::Unsupported {
                target: "builtin",
                workload: "bank",
                why: "a transfer needs a conditional write of two keys, which the built-in store does not offer; use --target etcd",
            }),
            _ => Ok(()),
        }
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
        match self.post("/kv/txn", json!({ "ops": mops.clone() })).await {
            Reply::Ok(body) => {
                let node = node_of(&body).or_else(|| Some(self.node.clone()));
                match body.get("ops") {
                    Some(ops @ Value::Array(_)) => Ok((ops.clone(), node)),
                    _ => Err(Completion::info(mops, "response has no `ops` list")),
                }
            }
            Reply::Fail(e) => Err(Completion::fail(mops, e)),
            Reply::Info(e) => Err(Completion::info(mops, e)),
        }
    }

    async fn run(&mut self, op: &Invocation) -> Completion {
        let here = Some(self.node.clone());
        match op.f.as_str() {
            "read" | "write" | "cas" if self.workload == Workload::Register => {
                let body = json!({"f": op.f, "key": op.key, "value": op.value});
                match self.post("/kv/register", body).await {
                    Reply::Ok(b) => {
                        let node = node_of(&b).or(here);
                        if b.get("ok") == Some(&Value::Bool(false)) {
                            Completion::fail(op.value.clone(), "cas precondition false")
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
