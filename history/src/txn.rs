//! Typed view of `f = "txn"` values: micro-ops `[f, key, value]` with interned keys and values.
//!
//! Keys and values are interned into dense `u32` ids so that checkers compare integers and keep
//! little memory per transaction; [`Interner::value`] turns an id back into JSON for witnesses.

use serde_json::Value;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hasher for integer keys (multiplicative, as in rustc's FxHasher, with a final mix):
/// interning and element lookups are hot paths of checking, and the keys are ids and values
/// from a history file, not adversarial input to a long-running service.
#[derive(Default, Clone, Copy)]
pub struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        // A multiply leaves the low bits depending only on the input's low bits, and hash
        // tables index by low bits: fold the high half in.
        let z = self.0 ^ (self.0 >> 29);
        z.wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (z >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A `HashMap` with [`IntHasher`].
pub type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// An interned key or value.
pub type Id = u32;

/// Maps JSON values (keys, appended elements, written values) to dense ids and back.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ints: IntMap<i64, Id>,
    strs: HashMap<String, Id>,
    others: HashMap<String, Id>,
    values: Vec<Value>,
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }
    /// The id of `v`, allocating one if new.
    pub fn intern(&mut self, v: &Value) -> Id {
        if let Some(i) = v.as_i64() {
            if let Some(&id) = self.ints.get(&i) {
                return id;
            }
            let id = self.values.len() as Id;
            self.values.push(v.clone());
            self.ints.insert(i, id);
            return id;
        }
        if let Value::String(st) = v {
            // Strings by their text, looked up without allocating.
            if let Some(&id) = self.strs.get(st.as_str()) {
                return id;
            }
            let id = self.values.len() as Id;
            self.values.push(v.clone());
            self.strs.insert(st.clone(), id);
            return id;
        }
        let s = v.to_string();
        if let Some(&id) = self.others.get(&s) {
            return id;
        }
        let id = self.values.len() as Id;
        self.values.push(v.clone());
        self.others.insert(s, id);
        id
    }
    /// The JSON value behind an id.
    pub fn value(&self, id: Id) -> &Value {
        &self.values[id as usize]
    }
    /// The value rendered for humans: strings without quotes.
    pub fn show(&self, id: Id) -> String {
        match self.value(id) {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// The function of a micro-op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MopF {
    /// `["append", k, v]`: append v to the list at k.
    Append,
    /// `["r", k, v]`: read k; v is a list (list-append) or a value (register), null if unknown.
    Read,
    /// `["w", k, v]`: write v to register k.
    Write,
}

/// What a micro-op carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MopValue {
    /// A read whose result is unknown (invocation, or an op that did not complete ok).
    Unknown,
    /// A register read that saw no value (null), the initial state.
    Nil,
    /// An appended or written value, or a register read's value.
    One(Id),
    /// A list read's elements in order (a completed null list read is an empty list).
    List(Vec<Id>),
}

/// One micro-op with interned key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mop {
    pub f: MopF,
    pub key: Id,
    pub value: MopValue,
}

/// How to read a completed `["r", k, null]`: list-append reads of null mean the empty list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    List,
    Register,
}

/// Parses a txn value into micro-ops. `keys` interns keys, `vals` interns values. A read of
/// `null` is `List(vec![])` for `ReadKind::List` when `completed`, `Nil` for registers, and
/// `Unknown` when not `completed`.
pub fn parse_txn(
    value: &Value,
    completed: bool,
    read_kind: ReadKind,
    keys: &mut Interner,
    vals: &mut Interner,
) -> Result<Vec<Mop>, String> {
    let Value::Array(mops) = value else {
        return Err(format!(
            "a txn value must be a list of micro-ops, found {value}"
        ));
    };
    let mut out = Vec::with_capacity(mops.len());
    for (i, m) in mops.iter().enumerate() {
        let Value::Array(parts) = m else {
            return Err(format!(
                "micro-op {i} must be a list [f, key, value], found {m}"
            ));
        };
        if parts.len() != 3 {
            return Err(format!(
                "micro-op {i} must have 3 elements [f, key, value], found {m}"
            ));
        }
        let f = match parts[0].as_str() {
            Some("append") => MopF::Append,
            Some("r") => MopF::Read,
            Some("w") => MopF::Write,
            _ => {
                return Err(format!(
                    "micro-op {i} has unknown function {}: expected \"append\", \"r\" or \"w\"",
                    parts[0]
                ))
            }
        };
        let key = match &parts[1] {
            k @ (Value::String(_) | Value::Number(_)) => keys.intern(k),
            k => {
                return Err(format!(
                    "micro-op {i} has key {k}: keys must be strings or integers"
                ))
            }
        };
        let v = &parts[2];
        let value = match f {
            MopF::Append | MopF::Write => {
                if v.is_null() && f == MopF::Append {
                    return Err(format!("micro-op {i} appends null"));
                }
                MopValue::One(vals.intern(v))
            }
            MopF::Read if !completed => MopValue::Unknown,
            MopF::Read => match (v, read_kind) {
                (Value::Null, ReadKind::List) => MopValue::List(Vec::new()),
                (Value::Null, ReadKind::Register) => MopValue::Nil,
                (Value::Array(xs), ReadKind::List) => {
                    MopValue::List(xs.iter().map(|x| vals.intern(x)).collect())
                }
                (x, ReadKind::List) => {
                    return Err(format!(
                        "micro-op {i} reads {x}: a list read must be a list or null"
                    ))
                }
                (x, ReadKind::Register) => MopValue::One(vals.intern(x)),
            },
        };
        out.push(Mop { f, key, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_list_append_txn() {
        let (mut k, mut v) = (Interner::new(), Interner::new());
        let m = parse_txn(
            &json!([["append", "x", 1], ["r", "y", null], ["r", "x", [1, 2]]]),
            true,
            ReadKind::List,
            &mut k,
            &mut v,
        )
        .unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].value, MopValue::List(vec![]));
        assert_eq!(k.show(m[0].key), "x");
        let MopValue::List(xs) = &m[2].value else {
            panic!()
        };
        assert_eq!(xs[0], v.intern(&json!(1)));
        assert!(parse_txn(
            &json!([["inc", "x", 1]]),
            true,
            ReadKind::List,
            &mut k,
            &mut v
        )
        .is_err());
    }
}
