//! The transactions of a history, typed: every `f = "txn"` operation's micro-ops with interned
//! keys and values, and whether the history holds list-append or read-write register data.

use crate::check::CheckError;
use history::txn::{Id, Interner, MopF, Recorded};
use history::{History, OpId, Outcome};
use serde_json::Value;
use std::borrow::Cow;

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

/// What a micro-op carries, for the history's data model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MopValue<'h> {
    /// A read whose result is unknown (the transaction did not complete `ok`).
    Unknown,
    /// A register read that saw no value (null), the initial state.
    Nil,
    /// An appended or written value, or a register read's value.
    One(Id),
    /// A list read's elements in order (a completed null list read is an empty list),
    /// borrowed from the history's store.
    List(&'h [Id]),
}

/// One micro-op with interned key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mop<'h> {
    pub f: MopF,
    pub key: Id,
    pub value: MopValue<'h>,
}

/// One transaction.
#[derive(Debug, Clone)]
pub struct Txn<'h> {
    pub op: OpId,
    /// The op's `index` (its invocation), used in witnesses.
    pub index: u64,
    pub process: u64,
    pub outcome: Outcome,
    pub mops: Box<[Mop<'h>]>,
}

impl Txn<'_> {
    /// Committed for certain.
    pub fn is_ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }
    /// May have committed (ok or indeterminate): a node of the dependency graph.
    pub fn in_graph(&self) -> bool {
        self.outcome != Outcome::Fail
    }
}

/// All transactions of a history, with the interners that give keys and values back (the
/// history's own; a register history whose reads return lists adds those lists to a copy).
#[derive(Debug, Clone)]
pub struct Txns<'h> {
    pub model: DataModel,
    pub all: Vec<Txn<'h>>,
    pub keys: &'h Interner,
    pub vals: Cow<'h, Interner>,
}

impl<'h> Txns<'h> {
    pub fn get(&self, t: TxnId) -> &Txn<'h> {
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
        // Malformed transactions are reported when they are parsed.
        let Some(t) = op.txn else { continue };
        for m in h.txns.mops(t) {
            match (m.f, m.value) {
                (MopF::Append, _) => {
                    first_append.get_or_insert(op.invoke_line());
                }
                (MopF::Write, _) => {
                    first_write.get_or_insert(op.invoke_line());
                }
                (MopF::Read, Recorded::One(_)) => scalar_read = true,
                (MopF::Read, _) => {}
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

/// Types every `txn` op's micro-ops for the data model. Reads of ops that did not complete
/// `ok` are unknown.
pub fn collect(h: &History) -> Result<Txns<'_>, CheckError> {
    let model = data_model(h)?;
    let mut vals = Cow::Borrowed(&h.txns.vals);
    // Final-phase reads are per-replica state reads for the convergence checks, not
    // transactions with a real-time or isolation promise.
    let ops = h.ops.iter().filter(|o| o.f == "txn" && !o.is_final());
    let mut all = Vec::with_capacity(ops.clone().count());
    for op in ops {
        let completed = op.outcome == Outcome::Ok;
        let line = if completed {
            op.line()
        } else {
            op.invoke_line()
        };
        let input = |message: String| CheckError::Input {
            source_name: h.source.clone(),
            line,
            message,
        };
        let t = h.txn(op).map_err(input)?;
        let mut mops = Vec::with_capacity(t.len());
        for (i, m) in h.txns.mops(t).enumerate() {
            let value = match (m.f, m.value, model) {
                (MopF::Read, _, _) if !completed => MopValue::Unknown,
                (MopF::Read, Recorded::Null, DataModel::ListAppend) => MopValue::List(&[]),
                (MopF::Read, Recorded::Null, DataModel::Register) => MopValue::Nil,
                (MopF::Read, Recorded::List(xs), DataModel::ListAppend) => MopValue::List(xs),
                // A register read that returned a list: the list is one value.
                (MopF::Read, Recorded::List(_), DataModel::Register) => {
                    MopValue::One(vals.to_mut().intern(&h.txns.to_json(t)[i][2]))
                }
                (MopF::Read, Recorded::One(v), DataModel::ListAppend) => {
                    return Err(input(format!(
                        "micro-op {i} reads {}: a list read must be a list or null",
                        h.txns.vals.value(v)
                    )))
                }
                (_, Recorded::One(v), _) => MopValue::One(v),
                (_, Recorded::Null | Recorded::List(_), _) => MopValue::Nil,
            };
            if model == DataModel::ListAppend && m.f == MopF::Write {
                return Err(CheckError::Input {
                    source_name: h.source.clone(),
                    line: op.invoke_line(),
                    message: "a `w` micro-op in a list-append history".into(),
                });
            }
            mops.push(Mop {
                f: m.f,
                key: m.key,
                value,
            });
        }
        all.push(Txn {
            op: op.id,
            index: op.index,
            process: op.process,
            outcome: op.outcome,
            mops: mops.into_boxed_slice(),
        });
    }
    Ok(Txns {
        model,
        all,
        keys: &h.txns.keys,
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
