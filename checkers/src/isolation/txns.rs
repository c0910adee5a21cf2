//! The transactions of a history, typed: every `f = "txn"` operation's micro-ops with interned
//! keys and values, and whether the history holds list-append or read-write register data.

use crate::check::CheckError;
use history::txn::{parse_txn, Interner, Mop, MopF, ReadKind};
use history::{History, OpId, Outcome};
use serde_json::Value;

/// Index of a transaction in [`Txns::all`]; also its node in the dependency graph.
pub type TxnId = u32;

/// The data model the micro-ops speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataModel {
    /// `append` and list-valued `r`.
    ListAppend,
    /// `w` and single-valued `r`.
    Register,
}

impl DataModel {
    pub fn as_str(self) -> &'static str {
        match self {
            DataModel::ListAppend => "list-append",
            DataModel::Register => "rw-register",
        }
    }
}

/// One transaction.
#[derive(Debug, Clone)]
pub struct Txn {
    pub op: OpId,
    /// The op's `index` (its invocation), used in witnesses.
    pub index: u64,
    pub process: u64,
    pub outcome: Outcome,
    pub mops: Vec<Mop>,
}

impl Txn {
    /// Committed for certain.
    pub fn is_ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }
    /// May have committed (ok or indeterminate): a node of the dependency graph.
    pub fn in_graph(&self) -> bool {
        self.outcome != Outcome::Fail
    }
}

/// All transactions of a history, with the interners that give keys and values back.
#[derive(Debug, Clone)]
pub struct Txns {
    pub model: DataModel,
    pub all: Vec<Txn>,
    pub keys: Interner,
    pub vals: Interner,
}

impl Txns {
    pub fn get(&self, t: TxnId) -> &Txn {
        &self.all[t as usize]
    }
    /// The key for sentences: `x`, or `key 3` for a number.
    pub fn key_name(&self, k: u32) -> String {
        key_name(self.keys.value(k))
    }
    /// The key as JSON (for anomaly records).
    pub fn key_json(&self, k: u32) -> Value {
        self.keys.value(k).clone()
    }
}

/// True if the history has at least one `txn` operation.
pub fn has_txns(h: &History) -> bool {
    h.ops.iter().any(|o| o.f == "txn")
}

/// Decides the data model from the micro-ops: any `append` means list-append, any `w` means
/// registers; both in one history is an input error naming the first line that mixes them.
pub fn data_model(h: &History) -> Result<DataModel, CheckError> {
    let mut first_append: Option<usize> = None;
    let mut first_write: Option<usize> = None;
    let mut scalar_read = false;
    for op in h.ops.iter().filter(|o| o.f == "txn") {
        let Value::Array(mops) = &op.value else {
            continue;
        };
        for m in mops {
            let Value::Array(parts) = m else { continue };
            match parts.first().and_then(Value::as_str) {
                Some("append") => {
                    first_append.get_or_insert(op.invoke_line);
                }
                Some("w") => {
                    first_write.get_or_insert(op.invoke_line);
                }
                Some("r") => {
                    if let Some(v) = parts.get(2) {
                        if !v.is_null() && !v.is_array() {
                            scalar_read = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    match (first_append, first_write) {
        (Some(a), Some(w)) => Err(CheckError::Input {
            source_name: h.source.clone(),
            line: a.max(w),
            message: format!(
                "this history mixes list-append (`append`, first on line {a}) and register (`w`, first on line {w}) micro-ops; check them as separate histories"
            ),
        }),
        (Some(_), None) => Ok(DataModel::ListAppend),
        (None, Some(_)) => Ok(DataModel::Register),
        (None, None) if scalar_read => Ok(DataModel::Register),
        (None, None) => Ok(DataModel::ListAppend),
    }
}

/// Parses every `txn` op into a [`Txn`]. Reads of ops that did not complete `ok` are unknown.
pub fn collect(h: &History) -> Result<Txns, CheckError> {
    let model = data_model(h)?;
    let read_kind = match model {
        DataModel::ListAppend => ReadKind::List,
        DataModel::Register => ReadKind::Register,
    };
    let mut keys = Interner::new();
    let mut vals = Interner::new();
    let mut all = Vec::new();
    for op in h.ops.iter().filter(|o| o.f == "txn") {
        let completed = op.outcome == Outcome::Ok;
        let mops = parse_txn(&op.value, completed, read_kind, &mut keys, &mut vals).map_err(
            |message| CheckError::Input {
                source_name: h.source.clone(),
                line: if completed {
                    op.complete_line.unwrap_or(op.invoke_line)
                } else {
                    op.invoke_line
                },
                message,
            },
        )?;
        if model == DataModel::ListAppend && mops.iter().any(|m| m.f == MopF::Write) {
            return Err(CheckError::Input {
                source_name: h.source.clone(),
                line: op.invoke_line,
                message: "a `w` micro-op in a list-append history".into(),
            });
        }
        all.push(Txn {
            op: op.id,
            index: op.index,
            process: op.process,
            outcome: op.outcome,
            mops,
        });
    }
    Ok(Txns {
        model,
        all,
        keys,
        vals,
    })
}

/// A key for sentences: strings as they are, numbers as `key 3` (so "read key 3 = [1]" reads
/// unambiguously).
pub fn key_name(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        v => format!("key {v}"),
    }
}
