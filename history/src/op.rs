//! Operations: an invocation paired with its completion, and the validated [`History`].

use crate::error::{ParseError, ParseErrorKind};
use crate::event::{Event, EventType, Process};
use crate::name::{Name, Names};
use crate::txn::{parse_txn, Interner, ReadKind, TxnRef, TxnStore};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// Dense identifier of an operation: its position in [`History::ops`] (invocation order).
pub type OpId = usize;

/// The `error` with which faultline's clients complete a `cas` whose compare did not match
/// (`"type": "fail"`): the one failure that is an observation (the register did not hold the
/// expected value) rather than "did not happen" (docs/history-format.md).
pub const PRECONDITION_FAILED: &str = "precondition-failed";

/// The error text faultline's clients wrote for the same observation before
/// [`PRECONDITION_FAILED`]; histories recorded then keep their meaning.
pub const LEGACY_PRECONDITION_FAILED: &str = "cas precondition false";

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It took effect.
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// Indeterminate: completed with `info`, or never completed before the history ended.
    /// It may have taken effect at any time after its invocation, or never.
    Info,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// One client operation: an invocation and (if any) its completion.
///
/// A transaction's micro-ops (`f = "txn"` with a well-formed list of micro-ops) are not kept
/// as JSON: they live typed and interned in [`History::txns`], `txn` says where, and `value`
/// is `null` (see [`History::value`] for the JSON form).
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub id: OpId,
    /// The `index` of the invocation event (from the file, or its position when absent).
    pub index: u64,
    /// The `index` of the completion event, if it completed.
    pub complete_index: Option<u64>,
    pub process: u64,
    pub f: Name,
    pub outcome: Outcome,
    /// Where this transaction's micro-ops are in [`History::txns`], if it is one.
    pub txn: Option<TxnRef>,
    /// The completion's value when the op completed `ok` or `fail`, else the invocation's;
    /// `null` when the value is stored in [`History::txns`].
    pub value: Value,
    /// Positions of the invocation and completion among all events (see
    /// [`Op::invoke_pos`]); `u32::MAX` if it never completed.
    invoke_pos: u32,
    complete_pos: u32,
    pub invoke_time: Option<i64>,
    pub complete_time: Option<i64>,
    pub node: Option<Name>,
    /// 1-based source lines of the invocation and completion (0: never completed).
    invoke_line: u32,
    complete_line: u32,
    /// Fields most operations lack, kept apart so that each op stays small.
    rare: Option<Box<Rare>>,
}

/// The seldom-set fields of an [`Op`].
#[derive(Debug, Clone, PartialEq, Default)]
struct Rare {
    key: Option<Value>,
    phase: Option<Name>,
    error: Option<String>,
    extra: Map<String, Value>,
}

impl Op {
    /// Independent key, if the events carried one.
    pub fn key(&self) -> Option<&Value> {
        self.rare.as_ref()?.key.as_ref()
    }
    /// The completion's `error`, if any.
    pub fn error(&self) -> Option<&str> {
        self.rare.as_ref()?.error.as_deref()
    }
    /// Unknown fields of the completion (or invocation), kept as they were.
    pub fn extra(&self) -> Option<&Map<String, Value>> {
        self.rare
            .as_ref()
            .map(|r| &r.extra)
            .filter(|m| !m.is_empty())
    }
    /// The `phase` the events carried (`"final"` for reads after healing).
    pub fn phase(&self) -> Option<&str> {
        self.rare.as_ref()?.phase.as_deref()
    }
    /// Sets the phase (for tests and tools that mark final reads).
    pub fn set_phase(&mut self, phase: Option<&str>) {
        self.rare_mut().phase = phase.map(Name::new);
    }
    /// Position of the invocation among all events (real-time order).
    pub fn invoke_pos(&self) -> usize {
        self.invoke_pos as usize
    }
    /// Position of the completion among all events; `None` if it never completed. An `info`
    /// completion is recorded here too, but it does not bound when the op took effect.
    pub fn complete_pos(&self) -> Option<usize> {
        (self.complete_pos != u32::MAX).then_some(self.complete_pos as usize)
    }
    /// 1-based source line of the invocation.
    pub fn invoke_line(&self) -> usize {
        self.invoke_line as usize
    }
    /// 1-based source line of the completion, if it completed.
    pub fn complete_line(&self) -> Option<usize> {
        (self.complete_line != 0).then_some(self.complete_line as usize)
    }
    /// The line to name when the op's value is wrong: its completion's, else its invocation's.
    pub fn line(&self) -> usize {
        self.complete_line().unwrap_or(self.invoke_line())
    }
    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Default::default)
    }
    /// True if the op took effect for certain.
    pub fn is_ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }
    /// True if the op may have taken effect (ok or indeterminate).
    pub fn may_have_happened(&self) -> bool {
        self.outcome != Outcome::Fail
    }
    /// True if the op failed with [`PRECONDITION_FAILED`] (or its legacy spelling): its
    /// compare did not match, which is an observation of the state.
    pub fn failed_precondition(&self) -> bool {
        self.outcome == Outcome::Fail
            && self
                .error()
                .is_some_and(|e| e == PRECONDITION_FAILED || e == LEGACY_PRECONDITION_FAILED)
    }
    /// True if the op was taken after faults were healed (`"phase": "final"`).
    pub fn is_final(&self) -> bool {
        self.phase() == Some("final")
    }
    /// Real-time order: `self` completed (ok or fail) before `other` was invoked.
    pub fn precedes(&self, other: &Op) -> bool {
        match (self.outcome, self.complete_pos()) {
            (Outcome::Info, _) | (_, None) => false,
            (_, Some(c)) => c < other.invoke_pos(),
        }
    }
    /// The position after which the op can no longer take effect (its completion), or
    /// `usize::MAX` for an indeterminate op.
    pub fn effect_deadline(&self) -> usize {
        match (self.outcome, self.complete_pos()) {
            (Outcome::Info, _) | (_, None) => usize::MAX,
            (_, Some(c)) => c,
        }
    }
}

/// A nemesis event (faults and their healing), kept in order with the ops.
#[derive(Debug, Clone, PartialEq)]
pub struct NemesisEvent {
    pub pos: usize,
    pub index: u64,
    pub typ: EventType,
    pub f: String,
    pub value: Value,
    pub time: Option<i64>,
    pub line: usize,
}

/// A validated history: client operations in invocation order and nemesis events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Where the history came from (a file path, or a name given by the caller).
    pub source: String,
    pub ops: Vec<Op>,
    pub nemesis: Vec<NemesisEvent>,
    /// Number of events read.
    pub event_count: usize,
    /// The micro-ops of every transaction (see [`Op::txn`]).
    pub txns: TxnStore,
    /// The format the history was read from (None when built in memory). Checkers read each
    /// source's conventions from it (what a `fail` and a nil read mean: see
    /// docs/history-format.md).
    pub format: Option<crate::format::Format>,
}

impl History {
    /// Validates the event sequence and pairs invocations with completions.
    ///
    /// Errors (with the line): a completion with no pending invocation on its process, a second
    /// invocation while one is pending, an invocation by a process after it got `info`, or a
    /// completion whose `f` differs from its invocation's.
    pub fn from_events(source: &str, events: Vec<Event>) -> Result<History, ParseError> {
        let mut b = HistoryBuilder::with_capacity(source, events.len() / 2 + 1);
        for ev in events {
            b.push(ev)?;
        }
        Ok(b.finish())
    }

    /// An op's value as JSON: its `value`, or its micro-ops rebuilt from [`History::txns`].
    pub fn value<'a>(&'a self, op: &'a Op) -> Cow<'a, Value> {
        match op.txn {
            Some(t) => Cow::Owned(self.txns.to_json(t)),
            None => Cow::Borrowed(&op.value),
        }
    }

    /// Where a `txn` op's micro-ops are stored, or why its value is not a list of micro-ops
    /// (the message [`parse_txn`] gives).
    pub fn txn(&self, op: &Op) -> Result<TxnRef, String> {
        if let Some(t) = op.txn {
            return Ok(t);
        }
        let (mut k, mut v) = (Interner::new(), Interner::new());
        match parse_txn(&op.value, false, ReadKind::List, &mut k, &mut v) {
            Err(e) => Err(e),
            Ok(_) => Err(format!(
                "transaction too large to store (value {})",
                op.value
            )),
        }
    }

    /// Ops whose `f` is `f`.
    pub fn ops_with_f<'a>(&'a self, f: &'a str) -> impl Iterator<Item = &'a Op> + 'a {
        self.ops.iter().filter(move |o| o.f == f)
    }

    /// The distinct client processes, sorted.
    pub fn processes(&self) -> Vec<u64> {
        let mut ps: Vec<u64> = self.ops.iter().map(|o| o.process).collect();
        ps.sort_unstable();
        ps.dedup();
        ps
    }

    /// Describes an op for witnesses: "op 12 (process 3, ok)".
    pub fn describe(&self, id: OpId) -> String {
        let o = &self.ops[id];
        format!(
            "op {} (process {}, {})",
            o.index,
            o.process,
            o.outcome.as_str()
        )
    }
}

/// Pairs events into operations one at a time, as [`History::from_events`] does, so codecs can
/// stream events into a history without holding them all in memory.
#[derive(Debug)]
pub struct HistoryBuilder {
    source: String,
    ops: Vec<Op>,
    nemesis: Vec<NemesisEvent>,
    /// process -> pending op id
    pending: HashMap<u64, OpId>,
    /// processes that crashed (got info): line of the info
    crashed: HashMap<u64, usize>,
    /// Position of the next event.
    pos: usize,
    txns: TxnStore,
    names: Names,
    /// The op the last completion event completed.
    last_completed: Option<OpId>,
    /// Knossos's reading of `info` events (see [`Self::knossos_crashes`]).
    knossos_crashes: bool,
}

fn seq_err(source: &str, line: usize, msg: String) -> ParseError {
    ParseError::new(source, line, ParseErrorKind::Sequence(msg))
}

impl HistoryBuilder {
    pub fn new(source: &str) -> HistoryBuilder {
        HistoryBuilder::with_capacity(source, 0)
    }

    /// A builder with room for `ops` operations.
    pub fn with_capacity(source: &str, ops: usize) -> HistoryBuilder {
        HistoryBuilder {
            source: source.to_string(),
            ops: Vec::with_capacity(ops),
            nemesis: Vec::new(),
            pending: HashMap::new(),
            crashed: HashMap::new(),
            pos: 0,
            txns: TxnStore::new(),
            names: Names::default(),
            last_completed: None,
            knossos_crashes: false,
        }
    }

    /// Reads `info` events as Knossos does (for Jepsen EDN histories): an `info` completes the
    /// process's pending op whatever its `f` (Knossos's own tests crash ops with
    /// `{:type :info, :f :crash}`), an `info` with nothing pending is a note without effect,
    /// and a process may invoke again after an `info` (its crashed op stays open).
    pub fn knossos_crashes(&mut self) {
        self.knossos_crashes = true;
    }

    /// Operations so far: the id the next invocation will get.
    pub fn op_count(&self) -> usize {
        self.ops.len()
    }

    /// The store that the history's transactions go to, for codecs that parse micro-ops
    /// straight into it (see [`Self::push_stored`]).
    pub fn txns_mut(&mut self) -> &mut TxnStore {
        &mut self.txns
    }

    /// The op that `process` has pending, if any.
    pub fn pending(&self, process: u64) -> Option<OpId> {
        self.pending.get(&process).copied()
    }

    /// Adds the next event, whose value (if `txn` is given) is already in the store from
    /// [`Self::txns_mut`] and not in the event.
    pub fn push_stored(&mut self, ev: Event, txn: Option<TxnRef>) -> Result<(), ParseError> {
        let completion = ev.typ != EventType::Invoke && ev.process != Process::Nemesis;
        self.push(ev)?;
        if let (Some(t), true, Some(id)) = (txn, completion, self.last_completed) {
            let op = &mut self.ops[id];
            // An `info` completion's value is not the op's (it keeps its invocation's).
            if matches!(op.outcome, Outcome::Ok | Outcome::Fail) {
                op.txn = Some(t);
                op.value = Value::Null;
            }
        }
        Ok(())
    }

    /// Adds the next event (see [`History::from_events`] for the errors).
    pub fn push(&mut self, ev: Event) -> Result<(), ParseError> {
        let pos = self.pos;
        // Positions and lines are kept in 32 bits (u32::MAX and 0 mean "none").
        let (Ok(pos32), Ok(line32)) = (u32::try_from(pos), u32::try_from(ev.line)) else {
            return Err(seq_err(
                &self.source,
                ev.line,
                "the history has more than 4 billion events or lines, more than faultline can hold"
                    .into(),
            ));
        };
        if pos32 == u32::MAX {
            return Err(seq_err(
                &self.source,
                ev.line,
                "the history has more than 4 billion events, more than faultline can hold".into(),
            ));
        }
        self.pos += 1;
        let index = ev.index.unwrap_or(pos as u64);
        let p = match ev.process {
            Process::Nemesis => {
                self.nemesis.push(NemesisEvent {
                    pos,
                    index,
                    typ: ev.typ,
                    f: ev.f,
                    value: ev.value,
                    time: ev.time,
                    line: ev.line,
                });
                return Ok(());
            }
            Process::Client(p) => p,
        };
        match ev.typ {
            EventType::Invoke => {
                if let Some(&open) = self.pending.get(&p) {
                    return Err(seq_err(
                            &self.source,
                        ev.line,
                        format!(
                            "process {p} invoked a second operation while its invocation on line {} is still pending",
                            self.ops[open].invoke_line
                        ),
                    ));
                }
                if let Some(&info_line) = self.crashed.get(&p).filter(|_| !self.knossos_crashes) {
                    return Err(seq_err(
                            &self.source,
                        ev.line,
                        format!(
                            "process {p} invoked an operation after its operation completed with `info` on line {info_line}; a process whose operation is indeterminate must not invoke again"
                        ),
                    ));
                }
                let id = self.ops.len();
                self.pending.insert(p, id);
                let rare =
                    (ev.key.is_some() || ev.phase.is_some() || !ev.extra.is_empty()).then(|| {
                        Box::new(Rare {
                            key: ev.key,
                            phase: ev.phase.map(|n| self.names.get(&n)),
                            error: None,
                            extra: ev.extra,
                        })
                    });
                self.ops.push(Op {
                    id,
                    index,
                    complete_index: None,
                    process: p,
                    f: self.names.get(&ev.f),
                    outcome: Outcome::Info,
                    txn: None,
                    value: ev.value,
                    invoke_pos: pos32,
                    complete_pos: u32::MAX,
                    invoke_time: ev.time,
                    complete_time: None,
                    node: ev.node.map(|n| self.names.get(&n)),
                    invoke_line: line32,
                    complete_line: 0,
                    rare,
                });
            }
            typ => {
                if typ == EventType::Info && self.knossos_crashes && !self.pending.contains_key(&p)
                {
                    // A crash note with nothing pending: Knossos skips it.
                    return Ok(());
                }
                let Some(id) = self.pending.remove(&p) else {
                    return Err(seq_err(
                        &self.source,
                        ev.line,
                        format!(
                            "`{}` completion for process {p} has no pending invocation",
                            typ.as_str()
                        ),
                    ));
                };
                self.last_completed = Some(id);
                let op = &mut self.ops[id];
                if op.f != ev.f && !(typ == EventType::Info && self.knossos_crashes) {
                    return Err(seq_err(
                            &self.source,
                        ev.line,
                        format!(
                            "completion has f {:?} but process {p}'s pending invocation on line {} has f {:?}",
                            ev.f, op.invoke_line, op.f
                        ),
                    ));
                }
                op.complete_pos = pos32;
                op.complete_index = Some(index);
                op.complete_time = ev.time;
                op.complete_line = line32;
                if let Some(e) = ev.error {
                    op.rare_mut().error = Some(e);
                }
                if let Some(n) = ev.node {
                    op.node = Some(self.names.get(&n));
                }
                if let Some(n) = ev.phase {
                    op.rare_mut().phase = Some(self.names.get(&n));
                }
                if op.key().is_none() && ev.key.is_some() {
                    op.rare_mut().key = ev.key;
                }
                if !ev.extra.is_empty() {
                    op.rare_mut().extra.extend(ev.extra);
                }
                match typ {
                    EventType::Ok => {
                        op.outcome = Outcome::Ok;
                        op.value = ev.value;
                    }
                    EventType::Fail => {
                        op.outcome = Outcome::Fail;
                        if !ev.value.is_null() {
                            op.value = ev.value;
                        }
                    }
                    _ => {
                        op.outcome = Outcome::Info;
                        self.crashed.insert(p, ev.line);
                    }
                }
                self.store_txn(id);
            }
        }
        Ok(())
    }

    /// Moves a transaction's value into the typed store once it is final (see [`Op::txn`]).
    fn store_txn(&mut self, id: OpId) {
        let op = &mut self.ops[id];
        if op.f != "txn" || op.txn.is_some() || op.value.is_null() {
            return;
        }
        if let Some(t) = self.txns.push(&op.value) {
            op.txn = Some(t);
            op.value = Value::Null;
        }
    }

    /// The op with id `id`.
    pub fn op(&self, id: OpId) -> &Op {
        &self.ops[id]
    }

    /// Replaces an op's value: for codecs that skipped a value while streaming and read it
    /// again afterwards.
    pub fn set_value(&mut self, id: OpId, value: Value) {
        let op = &mut self.ops[id];
        op.txn = None;
        op.value = value;
        self.store_txn(id);
    }

    /// The history of the events pushed so far.
    pub fn finish(mut self) -> History {
        // Operations that never completed keep their invocation's value.
        for p in self.pending.values().copied().collect::<Vec<_>>() {
            self.store_txn(p);
        }
        History {
            source: self.source,
            ops: self.ops,
            nemesis: self.nemesis,
            event_count: self.pos,
            txns: self.txns,
            format: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl;

    fn h(text: &str) -> Result<History, ParseError> {
        History::from_events("t", jsonl::parse("t", text)?)
    }

    #[test]
    fn pairs_and_orders() {
        let hist = h(r#"{"process":0,"type":"invoke","f":"write","value":1}
{"process":1,"type":"invoke","f":"read","value":null}
{"process":0,"type":"ok","f":"write","value":1}
{"process":1,"type":"ok","f":"read","value":1}
{"process":0,"type":"invoke","f":"write","value":2}
{"process":0,"type":"info","f":"write","value":2}
{"process":2,"type":"invoke","f":"read","value":null}
"#)
        .unwrap();
        assert_eq!(hist.ops.len(), 4);
        assert_eq!(hist.ops[1].value, Value::from(1));
        assert!(!hist.ops[0].precedes(&hist.ops[1]));
        assert!(hist.ops[0].precedes(&hist.ops[2]));
        assert_eq!(hist.ops[2].outcome, Outcome::Info);
        assert_eq!(hist.ops[3].outcome, Outcome::Info);
        assert_eq!(hist.ops[3].complete_pos(), None);
        assert!(!hist.ops[2].precedes(&hist.ops[3]));
    }

    #[test]
    fn ops_stay_small() {
        // A loaded history is mostly ops and the txn store: docs/performance.md counts on
        // these sizes for its < 1 KB per transaction.
        assert!(
            std::mem::size_of::<Op>() <= 176,
            "{}",
            std::mem::size_of::<Op>()
        );
    }

    #[test]
    fn edn_histories_read_info_as_knossos_does() {
        // Knossos's own tests crash an op with `:f :crash`, note crashes with nothing pending,
        // and let a process invoke again after a crash.
        let text = "[{:process 0 :type :invoke :f :write :value 1}
 {:process 0 :type :info :f :crash :value nil}
 {:process 1 :type :info :f :crash :value nil}
 {:process 0 :type :invoke :f :read :value nil}
 {:process 0 :type :ok :f :read :value 1}]";
        let h = crate::edn::parse_history("k.edn", text).unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].outcome, Outcome::Info);
        assert_eq!(h.ops[0].f, "write");
        assert_eq!(
            h.ops[0].value,
            Value::from(1),
            "the invocation's value is kept"
        );
        assert_eq!(h.ops[1].outcome, Outcome::Ok);
        // In faultline's own format each of those is an error with its line.
        let e = h_err("{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n{\"process\":0,\"type\":\"info\",\"f\":\"crash\"}\n");
        assert_eq!(e.line, 2);
        let e = h_err("{\"process\":1,\"type\":\"info\",\"f\":\"crash\"}\n");
        assert!(e.message().contains("no pending invocation"), "{e}");
    }

    fn h_err(text: &str) -> ParseError {
        h(text).unwrap_err()
    }

    #[test]
    fn rejects_impossible_sequences() {
        let e = h("{\"process\":0,\"type\":\"ok\",\"f\":\"read\"}\n").unwrap_err();
        assert!(e.to_string().contains("t:1"));
        assert!(e.message().contains("no pending invocation"));
        let e = h("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message().contains("still pending"));
        let e = h("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"info\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n").unwrap_err();
        assert_eq!(e.line, 3);
    }
}
