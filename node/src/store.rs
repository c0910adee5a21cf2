//! Client operations and the serial key-value state machine.
//!
//! A client request (a transaction or a register operation) is parsed into a [`ClientOp`]: a
//! list of typed micro-ops ([`Mop`]) plus what is needed to render the answer in the request's
//! own shape. [`Store`] is the deterministic state machine the primary-based modes (`strong`,
//! `session`) replicate: applying the same mutating micro-ops in the same order gives the same
//! state on every replica.

use crate::api::{RegisterRequest, RegisterResponse, TxnRequest, TxnResponse};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MopKind {
    Read,
    Write,
    Append,
    /// Compare-and-set; the value is `[expected, new]`.
    Cas,
}

/// One micro-op on one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mop {
    pub f: MopKind,
    pub key: String,
    pub value: Value,
}

impl Mop {
    pub fn is_read(&self) -> bool {
        self.f == MopKind::Read
    }
}

/// The result of one micro-op: the value read (or written), and false for a failed cas.
#[derive(Debug, Clone, PartialEq)]
pub struct MopResult {
    pub value: Value,
    pub ok: bool,
}

#[derive(Debug, Clone)]
enum Shape {
    Txn { raw: Vec<Value> },
    Register { f: String, value: Value },
}

/// A parsed client request.
#[derive(Debug, Clone)]
pub struct ClientOp {
    pub mops: Vec<Mop>,
    pub session: Value,
    pub local: bool,
    shape: Shape,
}

fn key_string(k: &Value) -> Result<String, ApiError> {
    match k {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(ApiError::BadRequest(format!(
            "key must be a string or a number, got {other}"
        ))),
    }
}

fn check_cas_value(v: &Value) -> Result<(), ApiError> {
    match v {
        Value::Array(a) if a.len() == 2 => Ok(()),
        other => Err(ApiError::BadRequest(format!(
            "cas value must be [expected, new], got {other}"
        ))),
    }
}

impl ClientOp {
    pub fn from_txn(req: TxnRequest) -> Result<Self, ApiError> {
        if req.ops.is_empty() {
            return Err(ApiError::BadRequest(
                "a transaction needs at least one op".into(),
            ));
        }
        let mut mops = Vec::with_capacity(req.ops.len());
        for (i, raw) in req.ops.iter().enumerate() {
            let bad = |why: &str| ApiError::BadRequest(format!("ops[{i}] {raw}: {why}"));
            let arr = raw
                .as_array()
                .filter(|a| a.len() == 3)
                .ok_or_else(|| bad("expected [f, key, value]"))?;
            let f = match arr[0].as_str() {
                Some("r") | Some("read") => MopKind::Read,
                Some("w") | Some("write") => MopKind::Write,
                Some("append") => MopKind::Append,
                Some("cas") => MopKind::Cas,
                _ => return Err(bad("f must be one of append, r, w, cas")),
            };
            if f == MopKind::Cas {
                check_cas_value(&arr[2])?;
            }
            let key = key_string(&arr[1]).map_err(|e| bad(&e.to_string()))?;
            let value = if f == MopKind::Read {
                Value::Null
            } else {
                arr[2].clone()
            };
            mops.push(Mop { f, key, value });
        }
        let op = ClientOp {
            mops,
            session: req.session,
            local: req.local,
            shape: Shape::Txn { raw: req.ops },
        };
        op.check_local()?;
        Ok(op)
    }

    pub fn from_register(req: RegisterRequest) -> Result<Self, ApiError> {
        let key = key_string(&req.key)?;
        let (f, value) = match req.f.as_str() {
            "read" => (MopKind::Read, Value::Null),
            "write" => (MopKind::Write, req.value.clone()),
            "cas" => {
                check_cas_value(&req.value)?;
                (MopKind::Cas, req.value.clone())
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "register f must be read, write or cas, got `{other}`"
                )))
            }
        };
        let op = ClientOp {
            mops: vec![Mop { f, key, value }],
            session: req.session,
            local: req.local,
            shape: Shape::Register {
                f: req.f,
                value: req.value,
            },
        };
        op.check_local()?;
        Ok(op)
    }

    fn check_local(&self) -> Result<(), ApiError> {
        if self.local && !self.read_only() {
            return Err(ApiError::BadRequest(
                "`local: true` is only for reads".into(),
            ));
        }
        Ok(())
    }

    pub fn read_only(&self) -> bool {
        self.mops.iter().all(Mop::is_read)
    }

    /// The mutating micro-ops (what a replica must replay).
    pub fn writes(&self) -> Vec<Mop> {
        self.mops.iter().filter(|m| !m.is_read()).cloned().collect()
    }

    /// The response body for these results.
    pub fn render(&self, results: &[MopResult], node: &str, session: Value) -> Value {
        let out = match &self.shape {
            Shape::Txn { raw } => {
                let ops = raw
                    .iter()
                    .zip(&self.mops)
                    .zip(results)
                    .map(|((raw, mop), res)| {
                        let mut arr = raw.as_array().cloned().unwrap_or_default();
                        if mop.is_read() && arr.len() == 3 {
                            arr[2] = res.value.clone();
                        }
                        Value::Array(arr)
                    })
                    .collect();
                serde_json::to_value(TxnResponse {
                    ops,
                    ok: !aborted(results),
                    node: node.to_string(),
                    session,
                })
            }
            Shape::Register { f, value } => {
                let res = results.first();
                let value = if self.mops[0].is_read() {
                    res.map(|r| r.value.clone()).unwrap_or(Value::Null)
                } else {
                    value.clone()
                };
                serde_json::to_value(RegisterResponse {
                    f: f.clone(),
                    value,
                    ok: res.map(|r| r.ok).unwrap_or(true),
                    node: node.to_string(),
                    session,
                })
            }
        };
        out.unwrap_or(Value::Null)
    }
}

/// Whether a transaction aborted: one of its cas preconditions was false. An aborted
/// transaction has no effect at all (which makes multi-key conditional writes possible).
pub fn aborted(results: &[MopResult]) -> bool {
    results.iter().any(|r| !r.ok)
}

/// Appends `v` to the list value `cur` (null is the empty list).
pub fn appended(cur: &Value, v: &Value, key: &str) -> Result<Value, ApiError> {
    match cur {
        Value::Null => Ok(Value::Array(vec![v.clone()])),
        Value::Array(a) => {
            let mut a = a.clone();
            a.push(v.clone());
            Ok(Value::Array(a))
        }
        other => Err(ApiError::BadRequest(format!(
            "cannot append to key `{key}`: it holds the non-list {other}"
        ))),
    }
}

/// The serial key-value state machine.
#[derive(Debug, Default, Clone)]
pub struct Store {
    map: BTreeMap<String, Value>,
}

impl Store {
    pub fn get(&self, key: &str) -> Value {
        self.map.get(key).cloned().unwrap_or(Value::Null)
    }

    pub fn keys(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// Executes micro-ops against the current state without changing it: the results and the
    /// new values of the keys they change. An error means nothing may be applied.
    pub fn run(&self, mops: &[Mop]) -> Result<(Vec<MopResult>, BTreeMap<String, Value>), ApiError> {
        self.run_over(&BTreeMap::new(), mops)
    }

    /// Like [`Store::run`] on this state with the not yet applied changes `overlay` on top
    /// (earlier operations of the same group commit).
    pub fn run_over(
        &self,
        overlay: &BTreeMap<String, Value>,
        mops: &[Mop],
    ) -> Result<(Vec<MopResult>, BTreeMap<String, Value>), ApiError> {
        let mut changed: BTreeMap<String, Value> = BTreeMap::new();
        let mut results = Vec::with_capacity(mops.len());
        for m in mops {
            let cur = changed
                .get(&m.key)
                .or_else(|| overlay.get(&m.key))
                .cloned()
                .unwrap_or_else(|| self.get(&m.key));
            let res = match m.f {
                MopKind::Read => MopResult {
                    value: cur,
                    ok: true,
                },
                MopKind::Write => {
                    changed.insert(m.key.clone(), m.value.clone());
                    MopResult {
                        value: m.value.clone(),
                        ok: true,
                    }
                }
                MopKind::Append => {
                    changed.insert(m.key.clone(), appended(&cur, &m.value, &m.key)?);
                    MopResult {
                        value: m.value.clone(),
                        ok: true,
                    }
                }
                MopKind::Cas => {
                    let (expected, new) = match m.value.as_array().map(|a| a.as_slice()) {
                        Some([e, n]) => (e, n),
                        _ => return Err(ApiError::BadRequest("cas needs [expected, new]".into())),
                    };
                    let ok = &cur == expected;
                    if ok {
                        changed.insert(m.key.clone(), new.clone());
                    }
                    MopResult {
                        value: m.value.clone(),
                        ok,
                    }
                }
            };
            results.push(res);
        }
        if aborted(&results) {
            changed.clear();
        }
        Ok((results, changed))
    }

    /// Applies micro-ops (as validated by [`Store::run`] on the primary).
    pub fn apply(&mut self, mops: &[Mop]) {
        match self.run(mops) {
            Ok((_, changed)) => self.map.extend(changed),
            Err(e) => tracing::error!(%e, "a replicated entry failed to apply; skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn txn(ops: Value) -> ClientOp {
        ClientOp::from_txn(serde_json::from_value(json!({ "ops": ops })).unwrap()).unwrap()
    }

    #[test]
    fn txn_sees_its_own_writes_and_renders_reads() {
        let mut s = Store::default();
        let op = txn(json!([
            ["append", "x", 1],
            ["r", "x", null],
            ["w", 7, 3],
            ["r", "y", null]
        ]));
        let (res, changed) = s.run(&op.mops).unwrap();
        assert_eq!(res[1].value, json!([1]));
        assert_eq!(res[3].value, Value::Null);
        assert_eq!(changed.len(), 2);
        s.apply(&op.writes());
        assert_eq!(s.get("x"), json!([1]));
        assert_eq!(s.get("7"), json!(3));
        let out = op.render(&res, "1", json!(5));
        assert_eq!(out["ops"][1], json!(["r", "x", [1]]));
        assert_eq!(out["ops"][2], json!(["w", 7, 3]));
        assert_eq!(out["session"], json!(5));
    }

    #[test]
    fn cas_fails_without_effect_and_bad_requests_are_rejected() {
        let mut s = Store::default();
        let req = |v: Value| ClientOp::from_register(serde_json::from_value(v).unwrap());
        let w = req(json!({"f": "write", "key": "k", "value": 1})).unwrap();
        s.apply(&w.writes());
        let cas = req(json!({"f": "cas", "key": "k", "value": [2, 3]})).unwrap();
        let (res, changed) = s.run(&cas.mops).unwrap();
        assert!(!res[0].ok && changed.is_empty());
        assert_eq!(cas.render(&res, "1", Value::Null)["ok"], json!(false));
        let cas = req(json!({"f": "cas", "key": "k", "value": [1, 3]})).unwrap();
        s.apply(&cas.writes());
        assert_eq!(s.get("k"), json!(3));
        assert!(req(json!({"f": "cas", "key": "k", "value": 1})).is_err());
        assert!(req(json!({"f": "write", "key": "k", "value": 1, "local": true})).is_err());
        assert!(ClientOp::from_txn(
            serde_json::from_value(json!({"ops": [["zz", "x", 1]]})).unwrap()
        )
        .is_err());
        let app = txn(json!([["append", "k", 1]]));
        assert!(s.run(&app.mops).is_err(), "append to a non-list is refused");
    }
}
