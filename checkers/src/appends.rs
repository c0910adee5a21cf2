//! The list-append index that the session, causal and convergence checkers share: every
//! appended element of every key with the operation that appended it, every completed list
//! read as a sequence of element ids, and each operation's place in its session.
//!
//! Elements are dense `u32` ids (one per distinct `(key, value)` that was appended or read), so
//! the checkers compare integers and mark elements in flat arrays. An element that was read but
//! never appended by an operation that may have taken effect is still given an id (its
//! [`Append::op`] is [`NONE`] or a failed op) so reads keep their shape; checkers skip it and
//! [`garbage_read_cases`] reports it.

use crate::anomaly::Anomaly;
use crate::check::CheckError;
use history::txn::{Id, Interner, MopF, Recorded};
use history::{History, OpId, Outcome};
use serde_json::Value;

/// "No such thing" for `u32` ids.
pub const NONE: u32 = u32::MAX;

pub use history::txn::{IntHasher, IntMap};

/// One element of one key: who appended it.
#[derive(Debug, Clone, Copy)]
pub struct Append {
    pub key: Id,
    pub value: Id,
    /// The appending operation, or [`NONE`] if nobody appended it (a garbage element).
    pub op: u32,
    /// Position of the append among its transaction's micro-ops.
    pub mop: u32,
}

/// One completed list read (of an `ok` transaction).
#[derive(Debug, Clone)]
pub struct Read {
    pub op: u32,
    pub mop: u32,
    pub key: Id,
    /// Where its element ids are in [`AppendIndex::read_elems`] (see [`AppendIndex::elems`]).
    start: u32,
    len: u32,
}

/// Two operations that appended the same value to the same key: reads of it cannot be
/// attributed, so checking assumes unique elements and reports this as a reason for `unknown`.
#[derive(Debug, Clone)]
pub struct AmbiguousAppend {
    pub elem: u32,
    pub first: OpId,
    pub second: OpId,
}

/// The shared list-append index (see the module docs).
pub struct AppendIndex<'h> {
    pub h: &'h History,
    /// The history's key and value interners.
    pub keys: &'h Interner,
    pub vals: &'h Interner,
    /// Indexed by element id.
    pub appends: Vec<Append>,
    /// Completed reads of ok transactions, in operation order, then micro-op order.
    pub reads: Vec<Read>,
    /// The element ids of all reads, each read's in the order it returned them.
    read_elems: Vec<u32>,
    /// For each key id, its elements appended by operations that may have taken effect (ok or
    /// info), in operation order, then micro-op order (so each session's appends are in
    /// session order).
    pub key_appends: Vec<Vec<u32>>,
    /// Per op id: its session lane (dense process number), or [`NONE`] for non-txn and failed
    /// operations, which take no part in session order.
    pub lane: Vec<u32>,
    /// Per op id: 1-based position among its lane's non-failed transactions (0 if none).
    pub seq: Vec<u32>,
    /// Per lane: its transactions in session order.
    pub lane_ops: Vec<Vec<u32>>,
    /// Per op id: the range of its reads in `reads`.
    pub read_start: Vec<u32>,
    pub ambiguous: Vec<AmbiguousAppend>,
    /// Per op id, for transactions only: indexes into `appends` of its appends, in mop order.
    pub op_append_start: Vec<u32>,
    pub op_appends: Vec<u32>,
    /// Per element: appended by an operation that may have taken effect (see [`Self::is_real`]).
    pub real: Vec<bool>,
    /// Per element: its writer's `seq` (0 if not real), kept beside it for the hot loops.
    pub elem_seq: Vec<u32>,
}

/// Whether the history has list-append transactions (at least one `append` micro-op).
pub fn is_list_append(h: &History) -> bool {
    h.ops.iter().any(|o| {
        o.f == "txn"
            && match o.txn {
                Some(t) => h.txns.mops(t).any(|m| m.f == MopF::Append),
                // A malformed transaction: look at its JSON, so that the error is reported.
                None => o.value.as_array().is_some_and(|m| {
                    m.iter().any(|mop| {
                        mop.as_array()
                            .and_then(|p| p.first())
                            .and_then(|f| f.as_str())
                            == Some("append")
                    })
                }),
            }
    })
}

impl<'h> AppendIndex<'h> {
    /// Builds the index. Errors name the line of a malformed transaction.
    pub fn build(h: &'h History) -> Result<AppendIndex<'h>, CheckError> {
        let n = h.ops.len();
        let (keys, vals) = (&h.txns.keys, &h.txns.vals);
        let mut appends: Vec<Append> = Vec::with_capacity(n);
        let mut elems = Elements::new(h.txns.vals.len());
        let mut ambiguous = Vec::new();
        let mut lane = vec![NONE; n];
        let mut seq = vec![0u32; n];
        let mut lane_of_process: IntMap<u64, u32> = IntMap::default();
        let mut lane_ops: Vec<Vec<u32>> = Vec::new();
        let mut op_append_start = Vec::with_capacity(n + 1);
        let mut op_appends = Vec::with_capacity(n);
        let mut reads = Vec::with_capacity(n);
        let mut read_elems: Vec<u32> = Vec::new();
        let mut read_start = Vec::with_capacity(n + 1);
        for (id, op) in h.ops.iter().enumerate() {
            op_append_start.push(op_appends.len() as u32);
            read_start.push(reads.len() as u32);
            if op.f != "txn" {
                continue;
            }
            let failed = op.outcome == Outcome::Fail;
            if !failed {
                // Failed transactions take no part in session order.
                let l = *lane_of_process.entry(op.process).or_insert_with(|| {
                    lane_ops.push(Vec::new());
                    lane_ops.len() as u32 - 1
                });
                lane[id] = l;
                lane_ops[l as usize].push(id as u32);
                seq[id] = lane_ops[l as usize].len() as u32;
            }
            let mut on_append = |appends: &mut Vec<Append>, e: u32, i: usize| {
                let prev = appends[e as usize].op;
                let prev_failed = prev != NONE && h.ops[prev as usize].outcome == Outcome::Fail;
                if failed {
                    // Recorded only so that reads of it are explained.
                    if prev == NONE {
                        appends[e as usize].op = id as u32;
                        appends[e as usize].mop = i as u32;
                    }
                } else if prev == NONE || prev_failed {
                    appends[e as usize].op = id as u32;
                    appends[e as usize].mop = i as u32;
                    op_appends.push(e);
                } else {
                    ambiguous.push(AmbiguousAppend {
                        elem: e,
                        first: prev as OpId,
                        second: id,
                    });
                }
            };
            let completed = op.outcome == Outcome::Ok;
            let t = h.txn(op).map_err(|message| CheckError::Input {
                source_name: h.source.clone(),
                line: op.line(),
                message,
            })?;
            for (i, m) in h.txns.mops(t).enumerate() {
                match (m.f, m.value) {
                    (MopF::Append, Recorded::One(v)) => {
                        let e = elems.get(&mut appends, m.key, v);
                        on_append(&mut appends, e, i);
                    }
                    (MopF::Read, value) if completed => {
                        let start = read_elems.len() as u32;
                        match value {
                            Recorded::Null => {}
                            Recorded::List(xs) => read_elems
                                .extend(xs.iter().map(|&v| elems.get(&mut appends, m.key, v))),
                            Recorded::One(v) => {
                                return Err(CheckError::Input {
                                    source_name: h.source.clone(),
                                    line: op.line(),
                                    message: format!(
                                        "micro-op {i} reads {}: a list read must be a list or null",
                                        vals.value(v)
                                    ),
                                })
                            }
                        }
                        reads.push(Read {
                            op: id as u32,
                            mop: i as u32,
                            key: m.key,
                            start,
                            len: read_elems.len() as u32 - start,
                        });
                    }
                    _ => {}
                }
            }
        }
        op_append_start.push(op_appends.len() as u32);
        read_start.push(reads.len() as u32);
        let mut key_appends = vec![Vec::new(); keys.len()];
        // op_appends is in operation order, then micro-op order.
        for &e in &op_appends {
            key_appends[appends[e as usize].key as usize].push(e);
        }
        let real: Vec<bool> = appends
            .iter()
            .map(|a| a.op != NONE && h.ops[a.op as usize].outcome != Outcome::Fail)
            .collect();
        let elem_seq = appends
            .iter()
            .zip(&real)
            .map(|(a, &r)| if r { seq[a.op as usize] } else { 0 })
            .collect();
        Ok(AppendIndex {
            real,
            elem_seq,
            h,
            keys,
            vals,
            appends,
            reads,
            read_elems,
            key_appends,
            lane,
            seq,
            lane_ops,
            read_start,
            ambiguous,
            op_append_start,
            op_appends,
        })
    }

    /// A read's element ids, in the order it returned them.
    pub fn elems(&self, r: &Read) -> &[u32] {
        &self.read_elems[r.start as usize..(r.start + r.len) as usize]
    }

    /// Whether element `e` was appended by an operation that may have taken effect.
    pub fn is_real(&self, e: u32) -> bool {
        self.real[e as usize]
    }

    /// The appends of op `id` (element ids, mop order).
    pub fn appends_of(&self, id: usize) -> &[u32] {
        &self.op_appends[self.op_append_start[id] as usize..self.op_append_start[id + 1] as usize]
    }

    /// The reads of op `id` (indexes into `reads`).
    pub fn reads_of(&self, id: usize) -> std::ops::Range<usize> {
        self.read_start[id] as usize..self.read_start[id + 1] as usize
    }

    /// The `index` of an op, for witnesses.
    pub fn index(&self, op: u32) -> u64 {
        self.h.ops[op as usize].index
    }

    pub fn process(&self, op: u32) -> u64 {
        self.h.ops[op as usize].process
    }

    /// The key as JSON, for [`Anomaly::key`].
    pub fn key_json(&self, k: Id) -> Value {
        self.keys.value(k).clone()
    }

    /// A key for people: `x` for a string key, `key 4` for a number (so "read key 4 as [1 2]"
    /// does not read as a number).
    pub fn show_key(&self, k: Id) -> String {
        match self.keys.value(k) {
            Value::String(s) => s.clone(),
            v => format!("key {v}"),
        }
    }

    /// An element's value for people.
    pub fn show_elem(&self, e: u32) -> String {
        self.vals.show(self.appends[e as usize].value)
    }

    /// A read's list for people: `[1 2 3]`, abbreviated in the middle when long.
    pub fn show_list(&self, elems: &[u32]) -> String {
        const MAX: usize = 24;
        let show = |xs: &[u32]| -> Vec<String> { xs.iter().map(|&e| self.show_elem(e)).collect() };
        if elems.len() <= MAX {
            format!("[{}]", show(elems).join(" "))
        } else {
            format!(
                "[{} ... {}] ({} elements)",
                show(&elems[..MAX / 2]).join(" "),
                show(&elems[elems.len() - 4..]).join(" "),
                elems.len()
            )
        }
    }

    /// "op 12, ok".
    pub fn op_ok(&self, op: u32) -> String {
        let o = &self.h.ops[op as usize];
        format!("op {}, {}", o.index, o.outcome.as_str())
    }

    /// "op 12 (process 3, ok)".
    pub fn describe(&self, op: u32) -> String {
        self.h.describe(op as usize)
    }
}

fn pair(k: Id, v: Id) -> u64 {
    ((k as u64) << 32) | v as u64
}

/// Element ids by (key, value). An element is created at first sight, with no appender yet:
/// a read may return an append that an operation invoked later (concurrently) made.
///
/// Most values belong to one key, so the first element of each value is found by the value
/// id alone, in a flat array; elements of values seen under a second key go to a map.
struct Elements {
    by_value: Vec<u32>,
    others: IntMap<u64, u32>,
}

impl Elements {
    fn new(values: usize) -> Elements {
        Elements {
            by_value: vec![NONE; values],
            others: IntMap::default(),
        }
    }

    fn get(&mut self, appends: &mut Vec<Append>, key: Id, v: Id) -> u32 {
        let new = |appends: &mut Vec<Append>| {
            appends.push(Append {
                key,
                value: v,
                op: NONE,
                mop: 0,
            });
            appends.len() as u32 - 1
        };
        let first = &mut self.by_value[v as usize];
        if *first == NONE {
            *first = new(appends);
            return *first;
        }
        if appends[*first as usize].key == key {
            return *first;
        }
        *self
            .others
            .entry(pair(key, v))
            .or_insert_with(|| new(appends))
    }
}

/// `garbage-read`: a read returned an element that no operation which may have taken effect
/// appended to that key. One anomaly per (read, element).
pub fn garbage_read_cases(ix: &AppendIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for r in &ix.reads {
        for &e in ix.elems(r) {
            if ix.is_real(e) {
                continue;
            }
            let a = ix.appends[e as usize];
            let (ops, why) = if a.op == NONE {
                (
                    vec![ix.index(r.op)],
                    "but no operation appended it".to_string(),
                )
            } else {
                (
                    vec![ix.index(a.op), ix.index(r.op)],
                    format!(
                        "but the only append of it, {}, failed and so never took effect",
                        ix.describe(a.op)
                    ),
                )
            };
            out.push(
                Anomaly::new(
                    "garbage-read",
                    ops,
                    format!(
                        "{} read {} as {}, which contains {}, {why}",
                        ix.describe(r.op),
                        ix.show_key(r.key),
                        ix.show_list(ix.elems(r)),
                        ix.show_elem(e)
                    ),
                )
                .with_key(ix.key_json(r.key))
                .with_data("element", ix.vals.value(a.value).clone()),
            );
        }
    }
    out
}

/// `duplicate-elements`: a read returned the same element more than once.
pub fn duplicate_elements_cases(ix: &AppendIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut seen: IntMap<u32, ()> = IntMap::default();
    for r in &ix.reads {
        seen.clear();
        let mut dup = None;
        for &e in ix.elems(r) {
            if seen.insert(e, ()).is_some() {
                dup = Some(e);
                break;
            }
        }
        if let Some(e) = dup {
            let count = ix.elems(r).iter().filter(|&&x| x == e).count();
            out.push(
                Anomaly::new(
                    "duplicate-elements",
                    vec![ix.index(r.op)],
                    format!(
                        "{} read {} as {}, which contains {} {count} times; every element is appended once",
                        ix.describe(r.op),
                        ix.show_key(r.key),
                        ix.show_list(ix.elems(r)),
                        ix.show_elem(e)
                    ),
                )
                .with_key(ix.key_json(r.key))
                .with_data("element", ix.vals.value(ix.appends[e as usize].value).clone()),
            );
        }
    }
    out
}

#[cfg(test)]
pub mod notation {
    //! Tiny-history notation for unit tests: `"0 ok append x 1 r y [1 2]; 1 info append x 2"`.
    //! Each `;`-separated item is one transaction: process, outcome (`ok`, `fail`, `info`),
    //! then micro-ops `append K V` or `r K [..]`. Transactions run one after another in real
    //! time (invoke, complete) unless their outcome is `info`, which never completes. Optional
    //! `@node` and `final` words after the outcome set `node` and `phase`; `t=N` sets the
    //! completion time (invocation at N-1).
    use history::{Event, EventType, History, Process};
    use serde_json::{json, Value};

    pub fn hist(s: &str) -> History {
        let mut events = Vec::new();
        for item in s.split(';').map(str::trim).filter(|x| !x.is_empty()) {
            let words: Vec<&str> = item.split_whitespace().collect();
            let p: u64 = words[0].parse().expect("process");
            let typ = match words[1] {
                "ok" => EventType::Ok,
                "fail" => EventType::Fail,
                "info" => EventType::Info,
                w => panic!("bad outcome {w}"),
            };
            let mut i = 2;
            let mut node = None;
            let mut phase = None;
            let mut time = None;
            loop {
                match words.get(i) {
                    Some(w) if w.starts_with('@') => node = Some(w[1..].to_string()),
                    Some(&"final") => phase = Some("final".to_string()),
                    Some(w) if w.starts_with("t=") => time = Some(w[2..].parse::<i64>().unwrap()),
                    _ => break,
                }
                i += 1;
            }
            let mut inv = Vec::new();
            let mut done = Vec::new();
            while i < words.len() {
                let f = words[i];
                let k = key(words[i + 1]);
                i += 2;
                if f == "append" {
                    let v: Value = json!(words[i].parse::<i64>().unwrap());
                    i += 1;
                    inv.push(json!(["append", k, v]));
                    done.push(json!(["append", k, v]));
                } else {
                    let mut list = Vec::new();
                    let mut w = words[i].trim_start_matches('[').to_string();
                    loop {
                        let end = w.ends_with(']');
                        let x = w.trim_end_matches(']');
                        if !x.is_empty() {
                            list.push(json!(x.parse::<i64>().unwrap()));
                        }
                        i += 1;
                        if end {
                            break;
                        }
                        w = words[i].to_string();
                    }
                    inv.push(json!(["r", k, null]));
                    done.push(json!(["r", k, list]));
                }
            }
            let mut a = Event::new(
                Process::Client(p),
                EventType::Invoke,
                "txn",
                Value::Array(inv),
            );
            a.node = node.clone();
            a.phase = phase.clone();
            a.time = time.map(|t| t - 1);
            events.push(a);
            if typ != EventType::Info {
                let mut b = Event::new(Process::Client(p), typ, "txn", Value::Array(done));
                b.node = node;
                b.phase = phase;
                b.time = time;
                events.push(b);
            }
        }
        History::from_events("t", events).expect("valid test history")
    }

    fn key(s: &str) -> Value {
        match s.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => json!(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::notation::hist;
    use super::*;

    #[test]
    fn garbage_and_failed_appends_are_garbage_reads() {
        let h =
            hist("0 ok r x [9]; 1 fail append x 3; 2 ok r x [3]; 3 ok append x 4; 4 ok r x [4]");
        let ix = AppendIndex::build(&h).unwrap();
        let g = garbage_read_cases(&ix);
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].ops, vec![0]);
        assert!(g[0].explanation.contains("no operation appended it"));
        assert_eq!(g[1].ops, vec![2, 4]);
        assert!(g[1].explanation.contains("failed"), "{}", g[1].explanation);
    }

    #[test]
    fn info_appends_may_be_read() {
        let h = hist("0 info append x 3; 2 ok r x [3]");
        let ix = AppendIndex::build(&h).unwrap();
        assert!(garbage_read_cases(&ix).is_empty());
    }

    #[test]
    fn duplicates_reported_once_per_read() {
        let h = hist("0 ok append x 1; 1 ok r x [1 1]; 1 ok r x [1]");
        let ix = AppendIndex::build(&h).unwrap();
        let d = duplicate_elements_cases(&ix);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].ops, vec![2]);
        assert!(
            d[0].explanation.contains("contains 1 2 times"),
            "{}",
            d[0].explanation
        );
    }

    #[test]
    fn one_value_under_two_keys_is_two_elements() {
        let h = hist("0 ok append x 1; 1 ok append y 1; 2 ok r y [1] r x [1]; 2 ok r x [1 1]");
        let ix = AppendIndex::build(&h).unwrap();
        assert!(ix.ambiguous.is_empty());
        let (x, y) = (ix.appends_of(0)[0], ix.appends_of(1)[0]);
        assert_ne!(x, y);
        assert_eq!(ix.elems(&ix.reads[0]), &[y]);
        assert_eq!(ix.elems(&ix.reads[1]), &[x]);
        assert!(garbage_read_cases(&ix).is_empty());
        assert_eq!(duplicate_elements_cases(&ix).len(), 1);
    }

    #[test]
    fn index_shapes() {
        let h = hist("0 ok append x 1 append y 2; 1 fail append x 5; 0 ok r x [1] r y [2]");
        let ix = AppendIndex::build(&h).unwrap();
        assert_eq!(ix.reads.len(), 2);
        assert_eq!(ix.lane_ops.len(), 1);
        assert_eq!(ix.seq[2], 2);
        assert_eq!(ix.lane[1], NONE);
        assert_eq!(ix.appends_of(0).len(), 2);
        assert!(ix.appends_of(1).is_empty());
        assert!(is_list_append(&h));
    }

    #[test]
    fn fast_and_general_paths_agree_on_elements() {
        // Op 0 takes the fast path (integers); op 1 the general one (a string element and a
        // string key): element 1 of x is the same element either way.
        let text = r#"{"process":0,"type":"invoke","f":"txn","value":[["append","x",1]]}
{"process":0,"type":"ok","f":"txn","value":[["append","x",1]]}
{"process":1,"type":"invoke","f":"txn","value":[["append","x","b"],["r","x",null]]}
{"process":1,"type":"ok","f":"txn","value":[["append","x","b"],["r","x",[1,"b","c"]]]}
"#;
        let h = history::parse_str("t", text, None).unwrap();
        let ix = AppendIndex::build(&h).unwrap();
        assert_eq!(ix.reads.len(), 1);
        let r = &ix.reads[0];
        assert_eq!(ix.elems(r)[0], ix.appends_of(0)[0]);
        assert_eq!(ix.elems(r)[1], ix.appends_of(1)[0]);
        assert_eq!(ix.show_list(ix.elems(r)), "[1 b c]");
        let g = garbage_read_cases(&ix);
        assert_eq!(g.len(), 1);
        assert!(g[0]
            .explanation
            .contains("contains c, but no operation appended it"));
    }
}
