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
#[derive(Debug, Default, Clone, PartialEq)]
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
            return self.intern_i64(i);
        }
        if let Value::String(st) = v {
            return self.intern_str(st);
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
    /// The id of the integer `i` (as [`Self::intern`] of a JSON integer).
    pub fn intern_i64(&mut self, i: i64) -> Id {
        if let Some(&id) = self.ints.get(&i) {
            return id;
        }
        let id = self.values.len() as Id;
        self.values.push(Value::from(i));
        self.ints.insert(i, id);
        id
    }
    /// The id of the string `s` (as [`Self::intern`] of a JSON string), looked up without
    /// allocating.
    pub fn intern_str(&mut self, s: &str) -> Id {
        if let Some(&id) = self.strs.get(s) {
            return id;
        }
        let id = self.values.len() as Id;
        self.values.push(Value::String(s.to_owned()));
        self.strs.insert(s.to_owned(), id);
        id
    }
    /// The JSON value behind an id.
    pub fn value(&self, id: Id) -> &Value {
        &self.values[id as usize]
    }
    /// The value rendered for humans: strings without quotes.
    pub fn show(&self, id: Id) -> String {
        show_value(self.value(id))
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A JSON value for people: strings without quotes, anything else as JSON.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
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
            // Knossos's multi-register spells them `read` and `write`.
            Some("r" | "read") => MopF::Read,
            Some("w" | "write") => MopF::Write,
            _ => {
                return Err(format!(
                    "micro-op {i} has unknown function {}: expected \"append\", \"r\" (\"read\") or \"w\" (\"write\")",
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

/// Where an operation's micro-ops live in its history's [`TxnStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxnRef {
    start: u32,
    len: u32,
}

impl TxnRef {
    /// Number of micro-ops.
    pub fn len(self) -> usize {
        self.len as usize
    }
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Null,
    One,
    List,
}

/// A micro-op as stored: 16 bytes; a list's elements live in [`TxnStore::elems`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StoredMop {
    key: Id,
    /// The value id (`One`) or the first element's position (`List`).
    a: u32,
    /// The number of elements (`List`).
    b: u32,
    f: MopF,
    tag: Tag,
}

/// A micro-op's value as it was recorded, before the data model says what a read of `null`
/// means (a completed list read of null is the empty list; a register read of null, nil).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded<'a> {
    /// `null`.
    Null,
    /// A single value (appended, written, or a register read's result).
    One(Id),
    /// A list's elements (a list read's result).
    List(&'a [Id]),
}

/// One stored micro-op, borrowed from its [`TxnStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MopRef<'a> {
    pub f: MopF,
    pub key: Id,
    pub value: Recorded<'a>,
}

/// The micro-ops of every transaction of a history, typed and interned, in three flat arrays:
/// about 16 bytes per micro-op plus 4 per element read, where a JSON tree takes ten times that.
/// Keys and values are interned once for the whole history, so checkers compare ids.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TxnStore {
    mops: Vec<StoredMop>,
    elems: Vec<Id>,
    pub keys: Interner,
    pub vals: Interner,
}

impl TxnStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a txn value if it is a well-formed list of micro-ops (`[f, key, value]` with f one
    /// of `append`, `r`, `w`, a string or number key, and no `null` append); `None` otherwise,
    /// and the caller keeps the JSON so that checkers can say what is wrong with it
    /// ([`parse_txn`] explains every case).
    pub fn push(&mut self, value: &Value) -> Option<TxnRef> {
        let Value::Array(mops) = value else {
            return None;
        };
        let (start, elems_start) = (self.mops.len(), self.elems.len());
        let stored = self.push_mops(mops);
        if stored.is_none() || !self.fits() {
            self.mops.truncate(start);
            self.elems.truncate(elems_start);
            return None;
        }
        Some(TxnRef {
            start: start as u32,
            len: mops.len() as u32,
        })
    }

    fn push_mops(&mut self, mops: &[Value]) -> Option<()> {
        for m in mops {
            let Value::Array(parts) = m else { return None };
            let [f, key, v] = parts.as_slice() else {
                return None;
            };
            let f = match f.as_str()? {
                "append" => MopF::Append,
                "r" | "read" => MopF::Read,
                "w" | "write" => MopF::Write,
                _ => return None,
            };
            if !(key.is_string() || key.is_number()) || (f == MopF::Append && v.is_null()) {
                return None;
            }
            let key = self.keys.intern(key);
            let (tag, a, b) = match v {
                Value::Null if f == MopF::Read => (Tag::Null, 0, 0),
                Value::Array(xs) if f == MopF::Read => {
                    let a = self.elems.len() as u32;
                    for x in xs {
                        let id = self.vals.intern(x);
                        self.elems.push(id);
                    }
                    (Tag::List, a, xs.len() as u32)
                }
                v => (Tag::One, self.vals.intern(v), 0),
            };
            self.mops.push(StoredMop { key, a, b, f, tag });
        }
        Some(())
    }

    /// Starts a transaction being added micro-op by micro-op (for codecs that parse
    /// micro-ops straight into the store).
    pub(crate) fn begin(&mut self) -> (TxnRef, usize) {
        (
            TxnRef {
                start: self.mops.len() as u32,
                len: 0,
            },
            self.elems.len(),
        )
    }

    /// Adds a micro-op to the transaction `begin` started. `value` is `None` for `null`, or
    /// a value id, or with `list` a list read whose elements were pushed with
    /// [`Self::push_elem`] since `list`'s position.
    pub(crate) fn add_mop(
        &mut self,
        txn: &mut TxnRef,
        f: MopF,
        key: Id,
        value: Option<Id>,
        list: Option<usize>,
    ) {
        let (tag, a, b) = match (value, list) {
            (_, Some(first)) => (Tag::List, first as u32, (self.elems.len() - first) as u32),
            (None, None) => (Tag::Null, 0, 0),
            (Some(v), None) => (Tag::One, v, 0),
        };
        self.mops.push(StoredMop { key, a, b, f, tag });
        txn.len += 1;
    }

    /// Appends an element of a list read being added (see [`Self::add_mop`]).
    pub(crate) fn push_elem(&mut self, id: Id) {
        self.elems.push(id);
    }

    /// Elements stored so far.
    pub(crate) fn elem_count(&self) -> usize {
        self.elems.len()
    }

    /// Drops a transaction being added (from [`Self::begin`]) that turned out malformed.
    pub(crate) fn abandon(&mut self, txn: TxnRef, first_elem: usize) {
        self.mops.truncate(txn.start as usize);
        self.elems.truncate(first_elem);
    }

    /// Whether the store still fits its `u32` positions.
    pub(crate) fn fits(&self) -> bool {
        self.elems.len() <= u32::MAX as usize && self.mops.len() <= u32::MAX as usize
    }

    /// The `i`th micro-op of `txn`.
    pub fn mop(&self, txn: TxnRef, i: usize) -> MopRef<'_> {
        assert!(i < txn.len as usize, "micro-op {i} of a {}-op txn", txn.len);
        self.view(&self.mops[txn.start as usize + i])
    }

    fn view(&self, m: &StoredMop) -> MopRef<'_> {
        MopRef {
            f: m.f,
            key: m.key,
            value: match m.tag {
                Tag::Null => Recorded::Null,
                Tag::One => Recorded::One(m.a),
                Tag::List => Recorded::List(&self.elems[m.a as usize..(m.a + m.b) as usize]),
            },
        }
    }

    /// The micro-ops of `txn`, in order.
    pub fn mops(&self, txn: TxnRef) -> impl ExactSizeIterator<Item = MopRef<'_>> + '_ {
        self.mops[txn.start as usize..(txn.start + txn.len) as usize]
            .iter()
            .map(|m| self.view(m))
    }

    /// The transaction as JSON again, as it was recorded.
    pub fn to_json(&self, txn: TxnRef) -> Value {
        Value::Array(
            self.mops(txn)
                .map(|m| {
                    let f = match m.f {
                        MopF::Append => "append",
                        MopF::Read => "r",
                        MopF::Write => "w",
                    };
                    let v = match m.value {
                        Recorded::Null => Value::Null,
                        Recorded::One(v) => self.vals.value(v).clone(),
                        Recorded::List(xs) => {
                            Value::Array(xs.iter().map(|&x| self.vals.value(x).clone()).collect())
                        }
                    };
                    Value::Array(vec![f.into(), self.keys.value(m.key).clone(), v])
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_micro_ops_are_16_bytes() {
        assert_eq!(std::mem::size_of::<StoredMop>(), 16);
    }

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
