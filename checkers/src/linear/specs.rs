//! Each model's state, step function, and the translation of history ops into its inputs.
//!
//! Ops that certainly had no effect and observed nothing are dropped here (a failed write, a
//! crashed read). A failed `cas` is kept only where the history's conventions
//! ([`Semantics`]) say its failure observed that the register did not hold the expected value;
//! an `ok` read of nil is dropped where they say it constrains nothing (Knossos). Crashed
//! (`info`) ops stay open until the end of the history.

use super::search::{Call, Spec};
use crate::check::CheckError;
use crate::semantics::Semantics;
use history::txn::Interner;
use history::{History, Op, Outcome};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// A partition translated for one model: the spec, its initial state and the calls.
pub struct Prepared<M: Spec> {
    pub spec: M,
    pub init: M::State,
    pub calls: Vec<Call<M::Input>>,
    /// A call that no order can linearize, found without searching (e.g. a read of a value
    /// nothing wrote), and why in words.
    pub impossible: Option<(usize, String)>,
}

/// Builds calls, giving open ops of identical input the same symmetry class.
struct Builder<'a, I> {
    source: &'a str,
    calls: Vec<Call<I>>,
    classes: HashMap<String, u32>,
}

impl<'a, I> Builder<'a, I> {
    fn new(source: &'a str) -> Self {
        Builder {
            source,
            calls: Vec::new(),
            classes: HashMap::new(),
        }
    }
    fn push(&mut self, op: &Op, input: I) {
        debug_assert!(
            op.txn.is_none(),
            "txn ops need a class key from their micro-ops"
        );
        let class_key = format!("{}\u{0}{}", op.f, op.value);
        self.push_class(op, input, class_key);
    }
    /// Like `push`, with the key that makes two open ops interchangeable (their model input).
    fn push_class(&mut self, op: &Op, input: I, class_key: String) {
        let class = if op.outcome == Outcome::Info {
            let n = self.classes.len() as u32;
            *self.classes.entry(class_key).or_insert(n)
        } else {
            u32::MAX
        };
        self.calls.push(Call {
            input,
            op: op.id,
            call_pos: op.invoke_pos(),
            ret_pos: op.effect_deadline(),
            class,
        });
    }
    fn bad(&self, op: &Op, message: String) -> CheckError {
        CheckError::Input {
            source_name: self.source.to_string(),
            line: op.line(),
            message,
        }
    }
    fn unknown_f(&self, op: &Op, model: &str) -> CheckError {
        self.bad(
            op,
            format!(
                "the {model} model does not understand f {:?}; pick another --model",
                op.f
            ),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// register, cas-register

/// Register ops on interned values. Values nothing ever observes (no read returns them, no cas
/// expects them) all map to one id, since no observation can tell them apart.
#[derive(Debug, Clone, Copy)]
pub enum RegOp {
    Read(u32),
    /// (value as the model sees it, value as written)
    Write(u32, u32),
    Cas(u32, u32, u32),
    /// A cas that failed: the register did not hold the expected value.
    CasFail(u32, u32),
}

pub struct RegisterSpec {
    values: Interner,
    unobserved: u32,
}

impl RegisterSpec {
    fn show(&self, id: u32) -> String {
        if id == self.unobserved {
            "a value no read observed".into()
        } else {
            self.values.show(id)
        }
    }
}

impl Spec for RegisterSpec {
    type State = u32;
    type Input = RegOp;
    #[inline]
    fn step(&self, s: &u32, i: &RegOp) -> Option<u32> {
        match *i {
            RegOp::Read(v) => (v == *s).then_some(v),
            RegOp::Write(v, _) => Some(v),
            RegOp::Cas(e, n, _) => (e == *s).then_some(n),
            RegOp::CasFail(e, _) => (e != *s).then_some(*s),
        }
    }
    fn show_state(&self, s: &u32) -> String {
        self.show(*s)
    }
    fn show_input(&self, i: &RegOp) -> String {
        match *i {
            RegOp::Read(v) => format!("read {}", self.show(v)),
            RegOp::Write(_, w) => format!("write {}", self.values.show(w)),
            RegOp::Cas(e, _, w) => format!("cas {} -> {}", self.show(e), self.values.show(w)),
            RegOp::CasFail(e, w) => format!(
                "cas {} -> {} that failed (the register did not hold {})",
                self.show(e),
                self.values.show(w),
                self.show(e)
            ),
        }
    }
    fn show_state_after(&self, init: &u32, path: &[&RegOp], s: &u32) -> String {
        if *s != self.unobserved {
            return self.show(*s);
        }
        // Replay with the values as written to name the one the register holds.
        let mut cur = *init;
        for i in path {
            match **i {
                RegOp::Write(_, w) | RegOp::Cas(_, _, w) => cur = w,
                RegOp::Read(_) | RegOp::CasFail(..) => {}
            }
        }
        self.values.show(cur)
    }
}

fn cas_pair(op: &Op) -> Option<(&Value, &Value)> {
    match &op.value {
        Value::Array(a) if a.len() == 2 => Some((&a[0], &a[1])),
        _ => None,
    }
}

pub fn register(
    source: &str,
    ops: &[&Op],
    initial: &Value,
    allow_cas: bool,
    sem: &Semantics,
) -> Result<Prepared<RegisterSpec>, CheckError> {
    let model = if allow_cas {
        "cas-register"
    } else {
        "register"
    };
    let mut b: Builder<RegOp> = Builder::new(source);
    // Pass 1: which values are observed.
    let mut values = Interner::new();
    let mut observed: Vec<bool> = Vec::new();
    let observe = |values: &mut Interner, v: &Value, observed: &mut Vec<bool>| {
        let id = values.intern(v) as usize;
        if observed.len() <= id {
            observed.resize(id + 1, false);
        }
        observed[id] = true;
    };
    observe(&mut values, initial, &mut observed);
    let mut has_cas_fail = false;
    // A failed cas is kept (as the observation that the register did not hold `expected`)
    // only where the conventions say so; otherwise it did not happen.
    let kept_fail = |op: &Op| op.outcome == Outcome::Fail && sem.cas_failure_observes(op);
    for op in ops {
        match op.f.as_str() {
            "read" if op.outcome == Outcome::Ok && sem.read_constrains(&op.value) => {
                observe(&mut values, &op.value, &mut observed)
            }
            "read" | "write" => {}
            "cas" if allow_cas => {
                let (e, _) = cas_pair(op).ok_or_else(|| {
                    b.bad(
                        op,
                        format!("a cas value must be [expected, new], found {}", op.value),
                    )
                })?;
                if op.outcome != Outcome::Fail || kept_fail(op) {
                    observe(&mut values, e, &mut observed);
                }
                has_cas_fail |= kept_fail(op);
            }
            _ => return Err(b.unknown_f(op, model)),
        }
    }
    let unobserved = {
        let id = values.intern(&Value::String("\u{0}unobserved".into()));
        observed.resize(values.len(), false);
        id
    };
    let map = |values: &mut Interner, v: &Value| -> (u32, u32) {
        let id = values.intern(v);
        if (id as usize) < observed.len() && observed[id as usize] {
            (id, id)
        } else {
            (unobserved, id)
        }
    };
    for op in ops {
        let crashed = op.outcome == Outcome::Info;
        match (op.f.as_str(), op.outcome) {
            ("read", Outcome::Ok) if sem.read_constrains(&op.value) => {
                let (v, _) = map(&mut values, &op.value);
                b.push(op, RegOp::Read(v));
            }
            ("read", _) | ("write", Outcome::Fail) => {}
            ("cas", Outcome::Fail) if !kept_fail(op) => {}
            ("write", _) => {
                let (v, w) = map(&mut values, &op.value);
                // A crashed write of a value nothing observes can only matter to failed cas.
                if crashed && v == unobserved && !has_cas_fail {
                    continue;
                }
                b.push_class(op, RegOp::Write(v, w), format!("w{v}"));
            }
            ("cas", outcome) => {
                let (e, n) = cas_pair(op).unwrap_or((&Value::Null, &Value::Null));
                let (e, _) = map(&mut values, e);
                let (n, w) = map(&mut values, n);
                if outcome == Outcome::Fail {
                    b.push(op, RegOp::CasFail(e, w));
                } else {
                    if crashed && n == unobserved && !has_cas_fail {
                        continue;
                    }
                    b.push_class(op, RegOp::Cas(e, n, w), format!("c{e},{n}"));
                }
            }
            _ => return Err(b.unknown_f(op, model)),
        }
    }
    let init = values.intern(initial);
    // A read (or applied cas) of a value that neither the initial state nor any write or cas
    // that may have happened produced can never be linearized: say so without a search,
    // which could take exponential time to exhaust every order first.
    let mut produced = vec![false; values.len()];
    produced[init as usize] = true;
    for c in &b.calls {
        match c.input {
            RegOp::Write(v, _) | RegOp::Cas(_, v, _) => produced[v as usize] = true,
            RegOp::Read(_) | RegOp::CasFail(..) => {}
        }
    }
    let impossible = b.calls.iter().enumerate().find_map(|(i, c)| {
        if c.ret_pos == usize::MAX {
            return None; // a crashed op need not have happened
        }
        let (needs, what) = match c.input {
            RegOp::Read(v) => (v, "read"),
            RegOp::Cas(e, _, _) => (e, "cas expecting"),
            _ => return None,
        };
        (!produced[needs as usize]).then(|| {
            (
                i,
                format!(
                    "it {what} {}, a value that was never the initial value and that no write or cas that may have taken effect wrote",
                    values.show(needs)
                ),
            )
        })
    });
    Ok(Prepared {
        spec: RegisterSpec { values, unobserved },
        init,
        calls: b.calls,
        impossible,
    })
}

// ---------------------------------------------------------------------------------------------
// kv (Porcupine's string key-value model)

/// Kv ops on interned strings.
#[derive(Debug, Clone, Copy)]
pub enum KvOp {
    Get(u32),
    Put(u32),
    Append(u32),
}

/// The strings of the kv model, hash-consed: every distinct string has one id, so equal
/// states are equal ids and a `get` is an integer compare. A string made by an append is kept
/// as (prefix id, appended id) with a polynomial hash, never as its text, so a step costs
/// O(1) whatever the value's length and the memory per explored state is constant; its text is
/// built only to show it or, on a hash match, to confirm two strings really are equal.
#[derive(Default)]
struct Strings {
    nodes: Vec<StrNode>,
    /// Texts of the strings read from the history (leaves).
    leaves: Vec<String>,
    /// (hash, length) -> the first id with them; `same_key` chains the others.
    by_key: FastMap<(u64, u32), u32>,
    same_key: Vec<u32>,
    appends: FastMap<(u32, u32), u32>,
}

#[derive(Clone, Copy)]
struct StrNode {
    hash: u64,
    /// `BASE` to the power of the length (mod 2^64), to extend the hash by a suffix.
    pow: u64,
    len: u32,
    /// A leaf (`leaves[a]`, b = NONE) or the concatenation of ids a and b.
    a: u32,
    b: u32,
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<super::search::Fx>>;

const STR_BASE: u64 = 0x100_0000_01b3;
const NONE: u32 = u32::MAX;

impl Strings {
    /// The id of a string read from the history.
    fn intern(&mut self, s: &str) -> u32 {
        let (mut hash, mut pow) = (0u64, 1u64);
        for &byte in s.as_bytes() {
            hash = hash
                .wrapping_mul(STR_BASE)
                .wrapping_add(u64::from(byte) + 1);
            pow = pow.wrapping_mul(STR_BASE);
        }
        let node = StrNode {
            hash,
            pow,
            len: s.len() as u32,
            a: self.leaves.len() as u32,
            b: NONE,
        };
        self.find_or_add(node, Some(s))
    }

    /// The id of `text(s) + text(v)`.
    fn concat(&mut self, s: u32, v: u32) -> u32 {
        if let Some(&id) = self.appends.get(&(s, v)) {
            return id;
        }
        let (x, y) = (self.nodes[s as usize], self.nodes[v as usize]);
        let id = if y.len == 0 {
            s
        } else if x.len == 0 {
            v
        } else {
            let node = StrNode {
                hash: x.hash.wrapping_mul(y.pow).wrapping_add(y.hash),
                pow: x.pow.wrapping_mul(y.pow),
                len: x.len + y.len,
                a: s,
                b: v,
            };
            self.find_or_add(node, None)
        };
        self.appends.insert((s, v), id);
        id
    }

    fn find_or_add(&mut self, node: StrNode, leaf: Option<&str>) -> u32 {
        let key = (node.hash, node.len);
        let mut e = self.by_key.get(&key).copied().unwrap_or(NONE);
        if e != NONE {
            // Confirm by text (a true duplicate or a hash collision; both rare).
            let text = match leaf {
                Some(t) => t.to_string(),
                None => {
                    let mut t = self.text(node.a);
                    t.push_str(&self.text(node.b));
                    t
                }
            };
            let first = e;
            while e != NONE {
                if self.text(e) == text {
                    return e;
                }
                e = self.same_key[e as usize];
            }
            e = first;
        }
        let id = self.nodes.len() as u32;
        if let Some(t) = leaf {
            self.leaves.push(t.to_string());
        }
        self.nodes.push(node);
        self.same_key.push(e);
        self.by_key.insert(key, id);
        id
    }

    /// The text of string `id` (walks the concatenations with an explicit stack).
    fn text(&self, id: u32) -> String {
        let mut out = String::with_capacity(self.nodes[id as usize].len as usize);
        let mut stack = vec![id];
        while let Some(i) = stack.pop() {
            let n = self.nodes[i as usize];
            if n.b == NONE {
                out.push_str(&self.leaves[n.a as usize]);
            } else {
                stack.push(n.b);
                stack.push(n.a);
            }
        }
        out
    }

    /// Approximate heap bytes.
    fn bytes(&self) -> usize {
        self.nodes.len() * (std::mem::size_of::<StrNode>() + 4 + 32)
            + self.appends.len() * 24
            + self.leaves.iter().map(|l| l.len() + 24).sum::<usize>()
    }
}

pub struct KvSpec {
    strings: std::cell::RefCell<Strings>,
}

impl KvSpec {
    fn text(&self, id: u32) -> String {
        self.strings.borrow().text(id)
    }
}

impl Spec for KvSpec {
    type State = u32;
    type Input = KvOp;
    fn step(&self, s: &u32, i: &KvOp) -> Option<u32> {
        match *i {
            KvOp::Get(v) => (v == *s).then_some(v),
            KvOp::Put(v) => Some(v),
            KvOp::Append(v) => Some(self.strings.borrow_mut().concat(*s, v)),
        }
    }
    fn show_state(&self, s: &u32) -> String {
        format!("{:?}", self.text(*s))
    }
    fn show_input(&self, i: &KvOp) -> String {
        match *i {
            KvOp::Get(v) => format!("get {:?}", self.text(v)),
            KvOp::Put(v) => format!("put {:?}", self.text(v)),
            KvOp::Append(v) => format!("append {:?}", self.text(v)),
        }
    }
    fn heap_bytes(&self) -> usize {
        self.strings.borrow().bytes()
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn kv(source: &str, ops: &[&Op], initial: &Value) -> Result<Prepared<KvSpec>, CheckError> {
    let mut b: Builder<KvOp> = Builder::new(source);
    let mut strings = Strings::default();
    for op in ops {
        let v = strings.intern(&as_text(&op.value));
        match (op.f.as_str(), op.outcome) {
            ("get", Outcome::Ok) => b.push(op, KvOp::Get(v)),
            ("get", _) | (_, Outcome::Fail) => {}
            ("put", _) => b.push(op, KvOp::Put(v)),
            ("append", _) => b.push(op, KvOp::Append(v)),
            _ => return Err(b.unknown_f(op, "kv")),
        }
    }
    let init = strings.intern(&as_text(initial));
    Ok(Prepared {
        spec: KvSpec {
            strings: std::cell::RefCell::new(strings),
        },
        init,
        calls: b.calls,
        impossible: None,
    })
}

// ---------------------------------------------------------------------------------------------
// mutex

#[derive(Debug, Clone, Copy)]
pub enum MutexOp {
    Acquire,
    Release,
}

pub struct MutexSpec;

impl Spec for MutexSpec {
    type State = bool;
    type Input = MutexOp;
    fn step(&self, held: &bool, i: &MutexOp) -> Option<bool> {
        match i {
            MutexOp::Acquire => (!*held).then_some(true),
            MutexOp::Release => (*held).then_some(false),
        }
    }
    fn show_state(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.into()
    }
    fn show_input(&self, i: &MutexOp) -> String {
        match i {
            MutexOp::Acquire => "acquire".into(),
            MutexOp::Release => "release".into(),
        }
    }
}

pub fn mutex(
    source: &str,
    ops: &[&Op],
    initial: &Value,
) -> Result<Prepared<MutexSpec>, CheckError> {
    let mut b: Builder<MutexOp> = Builder::new(source);
    for op in ops {
        match (op.f.as_str(), op.outcome) {
            (_, Outcome::Fail) if matches!(op.f.as_str(), "acquire" | "release") => {}
            ("acquire", _) => b.push(op, MutexOp::Acquire),
            ("release", _) => b.push(op, MutexOp::Release),
            _ => return Err(b.unknown_f(op, "mutex")),
        }
    }
    Ok(Prepared {
        spec: MutexSpec,
        init: initial.as_bool().unwrap_or(false),
        calls: b.calls,
        impossible: None,
    })
}

// ---------------------------------------------------------------------------------------------
// set

#[derive(Debug, Clone)]
pub enum SetOp {
    Add(u32),
    Read(Box<[u64]>),
}

pub struct SetSpec {
    values: Interner,
}

fn bitset_show(values: &Interner, bits: &[u64]) -> String {
    let mut xs = Vec::new();
    for (w, &word) in bits.iter().enumerate() {
        for b in 0..64 {
            if word >> b & 1 == 1 {
                xs.push(values.show((w * 64 + b) as u32));
            }
        }
    }
    format!("{{{}}}", xs.join(" "))
}

impl Spec for SetSpec {
    type State = Box<[u64]>;
    type Input = SetOp;
    fn step(&self, s: &Box<[u64]>, i: &SetOp) -> Option<Box<[u64]>> {
        match i {
            SetOp::Add(v) => {
                let mut n = s.clone();
                n[*v as usize / 64] |= 1 << (v % 64);
                Some(n)
            }
            SetOp::Read(r) => (r == s).then(|| s.clone()),
        }
    }
    fn show_state(&self, s: &Box<[u64]>) -> String {
        bitset_show(&self.values, s)
    }
    fn state_heap_bytes(&self, s: &Box<[u64]>) -> usize {
        s.len() * 8
    }
    fn show_input(&self, i: &SetOp) -> String {
        match i {
            SetOp::Add(v) => format!("add {}", self.values.show(*v)),
            SetOp::Read(r) => format!("read {}", bitset_show(&self.values, r)),
        }
    }
}

pub fn set(source: &str, ops: &[&Op], initial: &Value) -> Result<Prepared<SetSpec>, CheckError> {
    let mut b: Builder<SetOp> = Builder::new(source);
    let mut values = Interner::new();
    let elements = |op: &Op, v: &Value, b: &Builder<SetOp>| -> Result<Vec<Value>, CheckError> {
        match v {
            Value::Array(a) => Ok(a.clone()),
            Value::Null => Ok(Vec::new()),
            other => Err(b.bad(
                op,
                format!("a set read must return a list of elements, found {other}"),
            )),
        }
    };
    // Intern every element first so bitsets have their final width.
    let mut pending = Vec::new();
    for op in ops {
        match (op.f.as_str(), op.outcome) {
            ("add", Outcome::Fail) | ("read", Outcome::Fail) | ("read", Outcome::Info) => {}
            ("add", _) => {
                values.intern(&op.value);
                pending.push((*op, None));
            }
            ("read", _) => {
                let xs = elements(op, &op.value, &b)?;
                for x in &xs {
                    values.intern(x);
                }
                pending.push((*op, Some(xs)));
            }
            _ => return Err(b.unknown_f(op, "set")),
        }
    }
    let init_xs: Vec<Value> = match initial {
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    };
    for x in &init_xs {
        values.intern(x);
    }
    let words = values.len().div_ceil(64).max(1);
    let to_bits = |values: &mut Interner, xs: &[Value]| -> Box<[u64]> {
        let mut bits = vec![0u64; words].into_boxed_slice();
        for x in xs {
            let id = values.intern(x);
            bits[id as usize / 64] |= 1 << (id % 64);
        }
        bits
    };
    for (op, read) in pending {
        match read {
            None => {
                let id = values.intern(&op.value);
                b.push(op, SetOp::Add(id));
            }
            Some(xs) => {
                let bits = to_bits(&mut values, &xs);
                b.push(op, SetOp::Read(bits));
            }
        }
    }
    let init = to_bits(&mut values, &init_xs);
    Ok(Prepared {
        spec: SetSpec { values },
        init,
        calls: b.calls,
        impossible: None,
    })
}

// ---------------------------------------------------------------------------------------------
// fifo-queue, unordered-queue

#[derive(Debug, Clone, Copy)]
pub enum QueueOp {
    Enqueue(u32),
    /// An ok dequeue that returned this element (or `EMPTY`: the queue was empty).
    Dequeue(u32),
    /// A crashed dequeue: it removed the oldest element if it happened (FIFO only).
    DequeueUnknown,
}

const EMPTY: u32 = u32::MAX;

pub struct QueueSpec {
    values: Interner,
    fifo: bool,
}

impl QueueSpec {
    fn show(&self, v: u32) -> String {
        if v == EMPTY {
            "nothing (empty)".into()
        } else {
            self.values.show(v)
        }
    }
}

impl Spec for QueueSpec {
    /// FIFO: elements oldest first. Unordered: a sorted multiset.
    type State = VecDeque<u32>;
    type Input = QueueOp;
    fn state_heap_bytes(&self, s: &VecDeque<u32>) -> usize {
        s.capacity() * 4
    }
    fn step(&self, s: &VecDeque<u32>, i: &QueueOp) -> Option<VecDeque<u32>> {
        match *i {
            QueueOp::Enqueue(v) => {
                let mut n = s.clone();
                if self.fifo {
                    n.push_back(v);
                } else {
                    let at = n.partition_point(|&x| x < v);
                    n.insert(at, v);
                }
                Some(n)
            }
            QueueOp::Dequeue(EMPTY) => s.is_empty().then(|| s.clone()),
            QueueOp::Dequeue(v) => {
                if self.fifo {
                    (s.front() == Some(&v)).then(|| s.iter().skip(1).copied().collect())
                } else {
                    let at = s.binary_search(&v).ok()?;
                    let mut n = s.clone();
                    n.remove(at);
                    Some(n)
                }
            }
            QueueOp::DequeueUnknown => Some(s.iter().skip(1).copied().collect()),
        }
    }
    fn show_state(&self, s: &VecDeque<u32>) -> String {
        let xs: Vec<String> = s.iter().map(|&v| self.values.show(v)).collect();
        format!("[{}]", xs.join(" "))
    }
    fn show_input(&self, i: &QueueOp) -> String {
        match *i {
            QueueOp::Enqueue(v) => format!("enqueue {}", self.show(v)),
            QueueOp::Dequeue(v) => format!("dequeue -> {}", self.show(v)),
            QueueOp::DequeueUnknown => "dequeue (crashed, result unknown)".into(),
        }
    }
}

pub fn queue(
    source: &str,
    ops: &[&Op],
    initial: &Value,
    fifo: bool,
) -> Result<Prepared<QueueSpec>, CheckError> {
    let model = if fifo {
        "fifo-queue"
    } else {
        "unordered-queue"
    };
    let mut b: Builder<QueueOp> = Builder::new(source);
    let mut values = Interner::new();
    for op in ops {
        match (op.f.as_str(), op.outcome) {
            ("enqueue", Outcome::Fail) | ("dequeue", Outcome::Fail) => {}
            ("enqueue", _) => {
                let id = values.intern(&op.value);
                b.push(op, QueueOp::Enqueue(id));
            }
            ("dequeue", Outcome::Ok) => {
                let id = if op.value.is_null() {
                    EMPTY
                } else {
                    values.intern(&op.value)
                };
                b.push(op, QueueOp::Dequeue(id));
            }
            // A crashed dequeue of an unordered queue may have taken any element; taking none
            // is assumed (documented in docs/linearizability.md).
            ("dequeue", _) if fifo => b.push(op, QueueOp::DequeueUnknown),
            ("dequeue", _) => {}
            _ => return Err(b.unknown_f(op, model)),
        }
    }
    let mut init: VecDeque<u32> = match initial {
        Value::Array(a) => a.iter().map(|x| values.intern(x)).collect(),
        _ => VecDeque::new(),
    };
    if !fifo {
        init.make_contiguous().sort_unstable();
    }
    Ok(Prepared {
        spec: QueueSpec { values, fifo },
        init,
        calls: b.calls,
        impossible: None,
    })
}

// ---------------------------------------------------------------------------------------------
// multi-register

/// A transaction's micro-ops: (is write, key, value); a read of `None` constrains nothing.
#[derive(Debug, Clone)]
pub struct MultiOp(Vec<(bool, u32, Option<u32>)>);

pub struct MultiSpec {
    keys: Interner,
    values: Interner,
}

impl Spec for MultiSpec {
    type State = Box<[u32]>;
    type Input = MultiOp;
    fn state_heap_bytes(&self, s: &Box<[u32]>) -> usize {
        s.len() * 4
    }
    fn step(&self, s: &Box<[u32]>, i: &MultiOp) -> Option<Box<[u32]>> {
        let mut n: Option<Box<[u32]>> = None;
        for &(write, k, v) in &i.0 {
            let cur = n.as_deref().unwrap_or(s);
            match (write, v) {
                (false, Some(v)) if cur[k as usize] != v => return None,
                (false, _) => {}
                (true, v) => {
                    let n = n.get_or_insert_with(|| s.clone());
                    n[k as usize] = v.unwrap_or(0);
                }
            }
        }
        Some(n.unwrap_or_else(|| s.clone()))
    }
    fn show_state(&self, s: &Box<[u32]>) -> String {
        let xs: Vec<String> = s
            .iter()
            .enumerate()
            .map(|(k, &v)| format!("{}={}", self.keys.show(k as u32), self.values.show(v)))
            .collect();
        format!("{{{}}}", xs.join(", "))
    }
    fn show_input(&self, i: &MultiOp) -> String {
        let xs: Vec<String> =
            i.0.iter()
                .map(|&(w, k, v)| {
                    let v = v.map_or("?".to_string(), |v| self.values.show(v));
                    format!(
                        "{} {} {}",
                        if w { "write" } else { "read" },
                        self.keys.show(k),
                        v
                    )
                })
                .collect();
        format!("txn [{}]", xs.join(", "))
    }
}

/// `initial` is a map from key to initial value (Knossos's `(multi-register {:x 0 :y 0})`;
/// keys it does not name start at null, as in Knossos), or one value every key starts at.
pub fn multi_register(
    h: &History,
    ops: &[&Op],
    initial: &Value,
    sem: &Semantics,
) -> Result<Prepared<MultiSpec>, CheckError> {
    let mut b: Builder<MultiOp> = Builder::new(&h.source);
    let mut keys = Interner::new();
    let mut values = Interner::new();
    // Keys are matched by their text, so that `"x"` from `--initial '{"x": 0}'` is the `:x`
    // of an EDN history and `1` is `"1"`.
    let key_text = |k: &Value| match k {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (default_init, per_key): (Value, Vec<(String, Value)>) = match initial {
        Value::Object(m) => (
            Value::Null,
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        v => (v.clone(), Vec::new()),
    };
    values.intern(&default_init); // id 0: the initial value of every other register
    let mut parsed = Vec::new();
    for op in ops {
        if op.f != "txn" {
            return Err(b.unknown_f(op, "multi-register"));
        }
        if op.outcome == Outcome::Fail {
            continue;
        }
        let value = h.value(op);
        let Value::Array(mops) = &*value else {
            return Err(b.bad(
                op,
                format!("a txn value must be a list of micro-ops, found {value}"),
            ));
        };
        let mut out = Vec::with_capacity(mops.len());
        for m in mops {
            let (f, k, v) = match m {
                Value::Array(a) if a.len() == 3 => (&a[0], &a[1], &a[2]),
                _ => return Err(b.bad(op, format!("a micro-op must be [f key value], found {m}"))),
            };
            let write = match f.as_str() {
                Some("read" | "r") => false,
                Some("write" | "w") => true,
                _ => return Err(b.bad(op, format!("micro-op f must be read or write, found {f}"))),
            };
            let reads_nothing = !write && (!sem.read_constrains(v) || op.outcome == Outcome::Info);
            let v = if reads_nothing {
                None
            } else {
                Some(values.intern(v))
            };
            out.push((write, keys.intern(k), v));
        }
        parsed.push((*op, out));
    }
    for (op, out) in parsed {
        // Open txns are interchangeable when their micro-ops are (reads of open txns are
        // unknown); not by `op.value`, which is null for the typed txns the history keeps.
        let class = format!("{out:?}");
        b.push_class(op, MultiOp(out), class);
    }
    let mut init = vec![0u32; keys.len()];
    for (k, v) in &per_key {
        let id = (0..keys.len() as u32).find(|&id| key_text(keys.value(id)) == *k);
        if let Some(id) = id {
            init[id as usize] = values.intern(v);
        }
    }
    let init = init.into_boxed_slice();
    Ok(Prepared {
        spec: MultiSpec { keys, values },
        init,
        calls: b.calls,
        impossible: None,
    })
}
