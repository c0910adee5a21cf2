//! The transactions of a history, typed: every `f = "txn"` operation's micro-ops with interned
//! keys and values, and whether the history holds list-append or read-write register data.

use crate::check::CheckError;
use history::txn::{parse_txn, Id, Interner, Mop, MopF, MopValue, ReadKind};
use history::{History, Op, OpId, Outcome};
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

/// Histories at least this long are parsed on two threads.
const PARALLEL_PARSE_MIN: usize = 20_000;

/// Parses every `txn` op into a [`Txn`]. Reads of ops that did not complete `ok` are unknown.
/// Long histories are parsed in two halves on two threads, each with its own interners, then
/// the second half's ids are mapped into the first's.
pub fn collect(h: &History) -> Result<Txns, CheckError> {
    let model = data_model(h)?;
    // Final-phase reads are per-replica state reads for the convergence checks, not
    // transactions with a real-time or isolation promise.
    let ops: Vec<&Op> = h
        .ops
        .iter()
        .filter(|o| o.f == "txn" && !o.is_final())
        .collect();
    if ops.len() < PARALLEL_PARSE_MIN {
        let (all, keys, vals) = parse_chunk(h, &ops, model)?;
        return Ok(Txns {
            model,
            all,
            keys,
            vals,
        });
    }
    let (first, second) = ops.split_at(ops.len() / 2);
    let (a, b) = std::thread::scope(|s| {
        let second = s.spawn(|| parse_chunk(h, second, model));
        let a = parse_chunk(h, first, model);
        let b = match second.join() {
            Ok(b) => b,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (a, b)
    });
    // The first error in history order wins.
    let (mut all, mut keys, mut vals) = a?;
    let (rest, kb, vb) = b?;
    let kmap: Vec<Id> = (0..kb.len() as Id)
        .map(|i| keys.intern(kb.value(i)))
        .collect();
    let vmap: Vec<Id> = (0..vb.len() as Id)
        .map(|i| vals.intern(vb.value(i)))
        .collect();
    all.reserve(rest.len());
    for mut t in rest {
        for m in &mut t.mops {
            m.key = kmap[m.key as usize];
            match &mut m.value {
                MopValue::One(v) => *v = vmap[*v as usize],
                MopValue::List(xs) => xs.iter_mut().for_each(|x| *x = vmap[*x as usize]),
                MopValue::Nil | MopValue::Unknown => {}
            }
        }
        all.push(t);
    }
    Ok(Txns {
        model,
        all,
        keys,
        vals,
    })
}

fn parse_chunk(
    h: &History,
    ops: &[&Op],
    model: DataModel,
) -> Result<(Vec<Txn>, Interner, Interner), CheckError> {
    let read_kind = match model {
        DataModel::ListAppend => ReadKind::List,
        DataModel::Register => ReadKind::Register,
    };
    let mut keys = Interner::new();
    let mut vals = Interner::new();
    let mut all = Vec::with_capacity(ops.len());
    for op in ops {
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
    Ok((all, keys, vals))
}

/// A key for sentences: strings as they are, numbers as `key 3` (so "read key 3 = [1]" reads
/// unambiguously).
pub fn key_name(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        v => format!("key {v}"),
    }
}
