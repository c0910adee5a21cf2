//! Unit tests of the linearizability checker: every model, valid and invalid, crashed ops,
//! and a property test against a simulated linearizable register.
//!
//! Histories are written one event per line: `process type f value [key] [!error]`, the value
//! as JSON (`0 invoke write 1`, `1 ok cas [1,2]`, `2 info write 3`, `0 ok get "x" "k1"`,
//! `1 fail cas [1,2] !precondition-failed`).

use super::*;
use crate::check::CheckOptions;
use crate::semantics::{FailMeans, NilRead};
use history::{Event, EventType, Process};

fn hist(text: &str) -> History {
    let mut events = Vec::new();
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let mut it = line.splitn(4, ' ');
        let p: u64 = it.next().unwrap().parse().unwrap();
        let typ = EventType::parse(it.next().unwrap()).unwrap();
        let f = it.next().unwrap();
        let rest = it.next().unwrap_or("null");
        let (rest, error) = match rest.rsplit_once(" !") {
            Some((r, e)) => (r, Some(e.to_string())),
            None => (rest, None),
        };
        // An optional trailing key: the last JSON value on the line when two are given.
        let (value, key) = match serde_json::from_str::<Value>(rest) {
            Ok(v) => (v, None),
            Err(_) => {
                let at = rest.rfind(' ').unwrap();
                (
                    serde_json::from_str(&rest[..at]).unwrap(),
                    Some(serde_json::from_str(&rest[at + 1..]).unwrap()),
                )
            }
        };
        let mut e = Event::new(Process::Client(p), typ, f, value);
        e.key = key;
        e.error = error;
        e.line = i + 1;
        events.push(e);
    }
    History::from_events("t", events).unwrap()
}

fn verdicts(model: &str, text: &str) -> Vec<PartVerdict> {
    verdicts_with(
        &hist(text),
        &CheckOptions {
            model: Some(model.into()),
            ..Default::default()
        },
    )
}

fn verdicts_with(h: &History, opts: &CheckOptions) -> Vec<PartVerdict> {
    check_history(h, opts)
        .unwrap()
        .parts
        .into_iter()
        .map(|p| p.verdict)
        .collect()
}

fn linearizable(model: &str, text: &str) -> bool {
    decided(verdicts(model, text))
}

/// Linearizable under these options, for a history read from `format`.
fn linearizable_as(
    model: &str,
    format: Option<history::Format>,
    fail: Option<FailMeans>,
    nil: Option<NilRead>,
    text: &str,
) -> bool {
    let mut h = hist(text);
    h.format = format;
    decided(verdicts_with(
        &h,
        &CheckOptions {
            model: Some(model.into()),
            fail_means: fail,
            nil_read: nil,
            ..Default::default()
        },
    ))
}

fn decided(vs: Vec<PartVerdict>) -> bool {
    assert!(
        vs.iter()
            .all(|v| matches!(v, PartVerdict::Linearizable | PartVerdict::Violation(_))),
        "{vs:?}"
    );
    vs.iter().all(|v| matches!(v, PartVerdict::Linearizable))
}

#[test]
fn register() {
    // Concurrent write and read may take either order.
    assert!(linearizable(
        "register",
        "0 invoke write 1\n1 invoke read null\n1 ok read 1\n0 ok write 1"
    ));
    // A read after a completed write cannot return the older value.
    assert!(!linearizable(
        "register",
        "0 invoke write 1\n0 ok write 1\n0 invoke write 2\n0 ok write 2\n1 invoke read null\n1 ok read 1"
    ));
    // A crashed write may take effect late...
    assert!(linearizable(
        "register",
        "0 invoke write 1\n0 info write 1\n1 invoke read null\n1 ok read null\n1 invoke read null\n1 ok read 1"
    ));
    // ...but not be undone.
    assert!(!linearizable(
        "register",
        "0 invoke write 1\n0 info write 1\n1 invoke read null\n1 ok read 1\n1 invoke read null\n1 ok read null"
    ));
    // A failed write never happened.
    assert!(!linearizable(
        "register",
        "0 invoke write 1\n0 fail write 1\n1 invoke read null\n1 ok read 1"
    ));
}

#[test]
fn cas_register() {
    let ok = "0 invoke write 1\n0 ok write 1\n1 invoke cas [1,2]\n1 ok cas [1,2]\n2 invoke read null\n2 ok read 2";
    assert!(linearizable("cas-register", ok));
    // A cas whose compare did not match (recorded as such) observed that the register did
    // not hold 1...
    assert!(!linearizable(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n1 invoke cas [1,2]\n1 fail cas [1,2] !precondition-failed"
    ));
    // ...as did one that older faultline clients recorded with their words for it.
    assert!(!linearizable(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n1 invoke cas [1,2]\n1 fail cas [1,2] !cas precondition false"
    ));
    // A cas that failed for any other reason (the node was down) did not happen.
    assert!(linearizable(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n1 invoke cas [1,2]\n1 fail cas [1,2] !connect: connection refused"
    ));
    // A crashed cas may apply...
    assert!(linearizable(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n1 invoke cas [1,2]\n1 info cas [1,2]\n2 invoke read null\n2 ok read 2"
    ));
    // ...but only if its precondition held.
    assert!(!linearizable(
        "cas-register",
        "0 invoke write 3\n0 ok write 3\n1 invoke cas [1,2]\n1 info cas [1,2]\n2 invoke read null\n2 ok read 2"
    ));
    // A crashed write of an unread value can still make a later cas fail.
    assert!(linearizable(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n3 invoke write 9\n3 info write 9\n1 invoke cas [1,2]\n1 fail cas [1,2] !precondition-failed"
    ));
    // The plain register model does not understand cas: bad input naming the line.
    let e = check_history(
        &hist(ok),
        &CheckOptions {
            model: Some("register".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, CheckError::Input { line: 4, .. }), "{e}");
}

#[test]
fn a_failed_cas_means_what_its_source_says() {
    use history::Format;
    // Process 1's cas from 1 failed right after 1 was written, with nothing concurrent.
    let plain = "0 invoke write 1\n0 ok write 1\n1 invoke cas [1,2]\n1 fail cas [1,2]";
    let recorded =
        "0 invoke write 1\n0 ok write 1\n1 invoke cas [1,2]\n1 fail cas [1,2] !precondition-failed";
    let m = "cas-register";
    // faultline JSONL: only the recorded mismatch is an observation.
    assert!(linearizable_as(m, Some(Format::Jsonl), None, None, plain));
    assert!(!linearizable_as(
        m,
        Some(Format::Jsonl),
        None,
        None,
        recorded
    ));
    // Jepsen/Knossos EDN: a fail never happened, whatever its error.
    assert!(linearizable_as(m, Some(Format::Edn), None, None, plain));
    assert!(linearizable_as(m, Some(Format::Edn), None, None, recorded));
    // Porcupine's etcd logs: every failed cas observed a mismatch.
    assert!(!linearizable_as(
        m,
        Some(Format::JepsenLog),
        None,
        None,
        plain
    ));
    // The option wins over the format.
    let fail = |f| linearizable_as(m, Some(Format::Edn), Some(f), None, plain);
    assert!(!fail(FailMeans::Mismatch));
    assert!(fail(FailMeans::Recorded) && fail(FailMeans::Nothing));
    assert!(linearizable_as(
        m,
        Some(Format::Jsonl),
        Some(FailMeans::Nothing),
        None,
        recorded
    ));
}

#[test]
fn a_nil_read_means_what_its_source_says() {
    use history::Format;
    // A read of nil long after 1 was written.
    let text = "0 invoke write 1\n0 ok write 1\n1 invoke read null\n1 ok read null";
    for m in ["register", "cas-register"] {
        // faultline and Porcupine: the register held nil, which it no longer could.
        assert!(!linearizable_as(m, Some(Format::Jsonl), None, None, text));
        assert!(!linearizable_as(
            m,
            Some(Format::JepsenLog),
            None,
            None,
            text
        ));
        // Knossos: "we don't know what the read was".
        assert!(linearizable_as(m, Some(Format::Edn), None, None, text));
        assert!(!linearizable_as(
            m,
            Some(Format::Edn),
            None,
            Some(NilRead::Value),
            text
        ));
        assert!(linearizable_as(
            m,
            Some(Format::Jsonl),
            None,
            Some(NilRead::Any),
            text
        ));
    }
    // Before any write, a nil read is the initial state either way.
    assert!(linearizable_as(
        "register",
        Some(Format::Jsonl),
        None,
        None,
        "1 invoke read null\n1 ok read null\n0 invoke write 1\n0 ok write 1"
    ));
    // multi-register is Knossos's model: its nil reads constrain nothing in any format...
    let multi = "0 invoke txn [[\"write\",\"x\",1]]\n0 ok txn [[\"write\",\"x\",1]]\n1 invoke txn [[\"read\",\"x\",null]]\n1 ok txn [[\"read\",\"x\",null]]";
    assert!(linearizable_as(
        "multi-register",
        Some(Format::Jsonl),
        None,
        None,
        multi
    ));
    // ...unless asked.
    assert!(!linearizable_as(
        "multi-register",
        Some(Format::Jsonl),
        None,
        Some(NilRead::Value),
        multi
    ));
}

#[test]
fn multi_register_initial_values_per_key() {
    // Knossos's (multi-register {:x 0 :y 0}): x and y start at 0, other keys at nil.
    let text = "0 invoke txn [[\"read\",\"x\",null],[\"read\",\"y\",null]]\n0 ok txn [[\"read\",\"x\",0],[\"read\",\"y\",0]]";
    let opts = |initial: Value| CheckOptions {
        model: Some("multi-register".into()),
        initial: Some(initial),
        nil_read: Some(NilRead::Value),
        ..Default::default()
    };
    let ok = |initial: Value, text: &str| decided(verdicts_with(&hist(text), &opts(initial)));
    assert!(ok(serde_json::json!({"x": 0, "y": 0}), text));
    assert!(!ok(serde_json::json!({"x": 0}), text), "y starts at nil");
    assert!(ok(serde_json::json!(0), text), "one value for every key");
    assert!(ok(
        serde_json::json!({"x": 0}),
        "0 invoke txn [[\"read\",\"z\",null]]\n0 ok txn [[\"read\",\"z\",null]]"
    ));
}

#[test]
fn independent_keys_are_checked_one_by_one() {
    let text = "0 invoke write 1 \"a\"\n0 ok write 1 \"a\"\n1 invoke read null \"b\"\n1 ok read null \"b\"\n1 invoke read null \"a\"\n1 ok read 2 \"a\"";
    let vs = verdicts("register", text);
    assert_eq!(vs.len(), 2);
    assert!(matches!(vs[0], PartVerdict::Violation(_)));
    assert!(matches!(vs[1], PartVerdict::Linearizable));
}

#[test]
fn kv() {
    assert!(linearizable(
        "kv",
        "0 invoke put \"a\"\n0 ok put \"a\"\n1 invoke append \"b\"\n2 invoke get null\n2 ok get \"ab\"\n1 ok append \"b\""
    ));
    assert!(!linearizable(
        "kv",
        "0 invoke append \"a\"\n0 ok append \"a\"\n1 invoke append \"b\"\n1 ok append \"b\"\n2 invoke get null\n2 ok get \"ba\""
    ));
}

#[test]
fn mutex() {
    assert!(linearizable(
        "mutex",
        "0 invoke acquire null\n0 ok acquire null\n0 invoke release null\n1 invoke acquire null\n0 ok release null\n1 ok acquire null"
    ));
    assert!(!linearizable(
        "mutex",
        "0 invoke acquire null\n0 ok acquire null\n1 invoke acquire null\n1 ok acquire null"
    ));
    // A crashed release may have freed the lock.
    assert!(linearizable(
        "mutex",
        "0 invoke acquire null\n0 ok acquire null\n0 invoke release null\n0 info release null\n1 invoke acquire null\n1 ok acquire null"
    ));
    // A failed release did not.
    assert!(!linearizable(
        "mutex",
        "0 invoke acquire null\n0 ok acquire null\n0 invoke release null\n0 fail release null\n1 invoke acquire null\n1 ok acquire null"
    ));
}

#[test]
fn set() {
    assert!(linearizable(
        "set",
        "0 invoke add 1\n0 ok add 1\n1 invoke add 2\n2 invoke read null\n2 ok read [1]\n1 ok add 2\n2 invoke read null\n2 ok read [2,1]"
    ));
    assert!(!linearizable(
        "set",
        "0 invoke add 1\n0 ok add 1\n2 invoke read null\n2 ok read []"
    ));
    // A crashed add may appear later, but not vanish again.
    assert!(linearizable(
        "set",
        "0 invoke add 1\n0 info add 1\n2 invoke read null\n2 ok read []\n2 invoke read null\n2 ok read [1]"
    ));
    assert!(!linearizable(
        "set",
        "0 invoke add 1\n0 info add 1\n2 invoke read null\n2 ok read [1]\n2 invoke read null\n2 ok read []"
    ));
}

#[test]
fn fifo_queue() {
    assert!(linearizable(
        "fifo-queue",
        "0 invoke enqueue 1\n0 ok enqueue 1\n0 invoke enqueue 2\n0 ok enqueue 2\n1 invoke dequeue null\n1 ok dequeue 1\n1 invoke dequeue null\n1 ok dequeue 2\n1 invoke dequeue null\n1 ok dequeue null"
    ));
    assert!(!linearizable(
        "fifo-queue",
        "0 invoke enqueue 1\n0 ok enqueue 1\n0 invoke enqueue 2\n0 ok enqueue 2\n1 invoke dequeue null\n1 ok dequeue 2"
    ));
    // A crashed dequeue may have taken the head.
    assert!(linearizable(
        "fifo-queue",
        "0 invoke enqueue 1\n0 ok enqueue 1\n0 invoke enqueue 2\n0 ok enqueue 2\n2 invoke dequeue null\n2 info dequeue null\n1 invoke dequeue null\n1 ok dequeue 2"
    ));
    // A crashed enqueue may happen, once.
    assert!(!linearizable(
        "fifo-queue",
        "0 invoke enqueue 1\n0 info enqueue 1\n1 invoke dequeue null\n1 ok dequeue 1\n1 invoke dequeue null\n1 ok dequeue 1"
    ));
}

#[test]
fn unordered_queue() {
    let text = "0 invoke enqueue 1\n0 ok enqueue 1\n0 invoke enqueue 2\n0 ok enqueue 2\n1 invoke dequeue null\n1 ok dequeue 2\n1 invoke dequeue null\n1 ok dequeue 1";
    assert!(linearizable("unordered-queue", text));
    assert!(!linearizable("fifo-queue", text));
    assert!(!linearizable(
        "unordered-queue",
        "0 invoke enqueue 1\n0 ok enqueue 1\n1 invoke dequeue null\n1 ok dequeue 1\n1 invoke dequeue null\n1 ok dequeue 1"
    ));
    assert!(linearizable(
        "unordered-queue",
        "0 invoke enqueue 1\n0 info enqueue 1\n1 invoke dequeue null\n1 ok dequeue null\n1 invoke dequeue null\n1 ok dequeue 1"
    ));
}

#[test]
fn multi_register() {
    assert!(linearizable(
        "multi-register",
        "0 invoke txn [[\"write\",\"x\",1],[\"write\",\"y\",2]]\n0 ok txn [[\"write\",\"x\",1],[\"write\",\"y\",2]]\n1 invoke txn [[\"read\",\"x\",null],[\"read\",\"y\",null]]\n1 ok txn [[\"read\",\"x\",1],[\"read\",\"y\",2]]"
    ));
    // Seeing half of an atomic write is not linearizable.
    assert!(!linearizable(
        "multi-register",
        "0 invoke txn [[\"write\",\"x\",1],[\"write\",\"y\",2]]\n0 ok txn [[\"write\",\"x\",1],[\"write\",\"y\",2]]\n1 invoke txn [[\"read\",\"x\",null],[\"read\",\"y\",null]]\n1 ok txn [[\"read\",\"x\",1],[\"read\",\"y\",null]]\n2 invoke txn [[\"read\",\"y\",null]]\n2 ok txn [[\"read\",\"y\",3]]"
    ));
    // A crashed txn's writes may land.
    assert!(linearizable(
        "multi-register",
        "0 invoke txn [[\"write\",\"x\",1]]\n0 info txn [[\"write\",\"x\",1]]\n1 invoke txn [[\"read\",\"x\",null]]\n1 ok txn [[\"read\",\"x\",1]]"
    ));
    // Two crashed txns that write different values are not interchangeable: either may
    // land. (With `r`/`w` micro-ops, which the history keeps typed, not as JSON.)
    assert!(linearizable(
        "multi-register",
        "0 invoke txn [[\"w\",\"x\",1]]\n0 info txn [[\"w\",\"x\",1]]\n1 invoke txn [[\"w\",\"x\",2]]\n1 info txn [[\"w\",\"x\",2]]\n2 invoke txn [[\"r\",\"x\",null]]\n2 ok txn [[\"r\",\"x\",2]]"
    ));
    assert!(linearizable(
        "multi-register",
        "0 invoke txn [[\"w\",\"x\",1]]\n0 info txn [[\"w\",\"x\",1]]\n1 invoke txn [[\"w\",\"x\",2]]\n1 info txn [[\"w\",\"x\",2]]\n2 invoke txn [[\"r\",\"x\",null]]\n2 ok txn [[\"r\",\"x\",2]]\n2 invoke txn [[\"r\",\"x\",null]]\n2 ok txn [[\"r\",\"x\",1]]"
    ));
}

#[test]
fn witness_names_prefix_state_and_tried_ops() {
    let h = hist("0 invoke write 1\n0 ok write 1\n1 invoke write 2\n2 invoke read null\n2 ok read 1\n1 ok write 2\n2 invoke read null\n2 ok read 1");
    let report = check_history(&h, &CheckOptions::default()).unwrap();
    let PartVerdict::Violation(w) = &report.parts[0].verdict else {
        panic!("expected a violation")
    };
    // The last read (op index 6) cannot follow: write 2 must precede it.
    assert_eq!(h.ops[w.op].index, 6);
    assert_eq!(w.state, "2");
    let text = witness::explain(&h, w);
    assert!(text.contains("read 1 is impossible in state 2"), "{text}");
    assert!(
        text.contains("longest linearizable prefix has 3 ops"),
        "{text}"
    );
}

#[test]
fn a_read_of_a_value_nothing_wrote_is_caught_without_search() {
    let h = hist("0 invoke write 1\n0 fail write 1\n1 invoke write 2\n1 info write 2\n2 invoke read null\n2 ok read 1");
    let report = check_history(&h, &CheckOptions::default()).unwrap();
    let p = &report.parts[0];
    let PartVerdict::Violation(w) = &p.verdict else {
        panic!("expected a violation, got {:?}", p.verdict)
    };
    assert_eq!(p.explored, 0, "found without searching");
    assert_eq!(h.ops[w.op].index, 4);
    let text = witness::explain(&h, w);
    assert!(
        text.contains("no write or cas that may have taken effect wrote"),
        "{text}"
    );
    // A crashed cas expecting an unwritten value may simply not have happened.
    let h = hist("1 invoke cas [7,2]\n1 info cas [7,2]\n2 invoke read null\n2 ok read null");
    assert!(matches!(
        check_history(&h, &CheckOptions::default()).unwrap().parts[0].verdict,
        PartVerdict::Linearizable
    ));
    // The crashed write of 2 may have taken effect, so reading 2 is fine.
    let h = hist("1 invoke write 2\n1 info write 2\n2 invoke read null\n2 ok read 2");
    assert!(matches!(
        check_history(&h, &CheckOptions::default()).unwrap().parts[0].verdict,
        PartVerdict::Linearizable
    ));
}

#[test]
fn model_is_inferred_and_unknown_models_are_usage_errors() {
    let h = hist("0 invoke enqueue 1\n0 ok enqueue 1");
    assert_eq!(
        select_model(&h, &CheckOptions::default()).unwrap().name,
        "fifo-queue"
    );
    let e = select_model(
        &h,
        &CheckOptions {
            model: Some("stack".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, CheckError::Usage(_)));
}

/// A simulated linearizable register with crashes: each op takes effect at its invocation or
/// at its completion (both inside its interval); a crashed op takes effect or not.
fn simulated(seed: u64, ops: usize) -> Vec<Event> {
    let mut rng = history::sim::SplitMix64::new(seed);
    let procs = 4usize;
    let mut proc_of: Vec<u64> = (0..procs as u64).collect();
    let mut fresh = procs as u64;
    // (f, input, result if it already took effect)
    type Pending = (String, Value, Option<(Value, bool)>);
    let mut pending: Vec<Option<Pending>> = vec![None; procs];
    let mut reg = Value::Null;
    let mut events = Vec::new();
    let (mut started, mut written) = (0usize, 0u64);
    while started < ops || pending.iter().any(Option::is_some) {
        let w = rng.below(procs as u64) as usize;
        match pending[w].take() {
            None if started < ops => {
                started += 1;
                let (f, v) = match rng.below(3) {
                    0 => ("read", Value::Null),
                    1 => {
                        written += 1;
                        ("write", Value::from(written))
                    }
                    _ => {
                        written += 1;
                        let expected = if rng.below(2) == 0 {
                            reg.clone()
                        } else {
                            Value::from(rng.below(written))
                        };
                        ("cas", serde_json::json!([expected, written]))
                    }
                };
                events.push(Event::new(
                    Process::Client(proc_of[w]),
                    EventType::Invoke,
                    f,
                    v.clone(),
                ));
                let effect = (rng.below(2) == 0).then(|| apply(&mut reg, f, &v));
                pending[w] = Some((f.to_string(), v, effect));
            }
            None => {}
            Some((f, v, effect)) => {
                let crash = f != "read" && rng.below(8) == 0;
                let p = Process::Client(proc_of[w]);
                if crash {
                    if effect.is_none() && rng.below(2) == 0 {
                        apply(&mut reg, &f, &v);
                    }
                    events.push(Event::new(p, EventType::Info, &f, v));
                    proc_of[w] = fresh;
                    fresh += 1;
                } else {
                    let (result, applied) = effect.unwrap_or_else(|| apply(&mut reg, &f, &v));
                    let typ = if applied {
                        EventType::Ok
                    } else {
                        EventType::Fail
                    };
                    let mut e = Event::new(p, typ, &f, result);
                    if !applied {
                        e.error = Some(history::PRECONDITION_FAILED.into());
                    }
                    events.push(e);
                }
            }
        }
    }
    for (i, e) in events.iter_mut().enumerate() {
        e.line = i + 1;
    }
    events
}

/// Applies an op to the register: (completion value, whether it applied).
fn apply(reg: &mut Value, f: &str, v: &Value) -> (Value, bool) {
    match f {
        "read" => (reg.clone(), true),
        "write" => {
            *reg = v.clone();
            (v.clone(), true)
        }
        _ => {
            let applied = v[0] == *reg;
            if applied {
                *reg = v[1].clone();
            }
            (v.clone(), applied)
        }
    }
}

#[test]
fn simulated_linearizable_registers_pass_and_stale_reads_fail() {
    let opts = CheckOptions {
        model: Some("cas-register".into()),
        ..Default::default()
    };
    let mut caught = 0;
    for seed in 0..60 {
        let events = simulated(seed, 120);
        let h = History::from_events("sim", events.clone()).unwrap();
        let r = check_history(&h, &opts).unwrap();
        assert!(
            matches!(r.parts[0].verdict, PartVerdict::Linearizable),
            "seed {seed}: a simulated linearizable history was judged {:?}",
            r.parts[0].verdict
        );
        // Make one read stale: an ok read, issued after some other write completed, now
        // returns a value that was overwritten before the read began.
        let mut evs = events;
        // Ok writes as (invocation, completion, value); written values are unique.
        let mut writes: Vec<(usize, usize, Value)> = Vec::new();
        for (c, e) in evs.iter().enumerate() {
            if e.typ == EventType::Ok && e.f == "write" {
                let inv = (0..c)
                    .rev()
                    .find(|&j| evs[j].process == e.process && evs[j].typ == EventType::Invoke)
                    .unwrap();
                writes.push((inv, c, e.value.clone()));
            }
        }
        // A read invoked after w2 completed, where w1 completed before w2 was invoked:
        // returning w1's value is stale, whatever else ran concurrently.
        let mut target = None;
        for i in 0..evs.len() {
            let e = &evs[i];
            if !(e.typ == EventType::Ok && e.f == "read") {
                continue;
            }
            let inv = (0..i)
                .rev()
                .find(|&j| evs[j].process == e.process && evs[j].typ == EventType::Invoke)
                .unwrap();
            let Some(w2) = writes.iter().filter(|w| w.1 < inv).max_by_key(|w| w.1) else {
                continue;
            };
            let Some(w1) = writes.iter().filter(|w| w.1 < w2.0).max_by_key(|w| w.1) else {
                continue;
            };
            if w1.2 != e.value {
                target = Some((i, w1.2.clone()));
                break;
            }
        }
        let Some((i, stale)) = target else { continue };
        evs[i].value = stale.clone();
        let h = History::from_events("sim", evs).unwrap();
        let r = check_history(&h, &opts).unwrap();
        if matches!(r.parts[0].verdict, PartVerdict::Violation(_)) {
            caught += 1;
        } else {
            panic!("seed {seed}: stale read of {stale} at event {i} not caught");
        }
    }
    assert!(caught >= 30, "only {caught} altered histories were checked");
}

#[test]
fn final_phase_replica_reads_are_not_judged_for_linearizability() {
    let text = "0 invoke write 1
                0 ok write 1
                1 invoke write 2
                1 ok write 2
                2 invoke read null
                2 ok read 1";
    assert!(!linearizable("register", text));
    // The same stale read, taken from one replica's own state after the faults were healed.
    let mut h = hist(text);
    h.ops[2].set_phase(Some("final"));
    let opts = CheckOptions {
        model: Some("register".into()),
        ..Default::default()
    };
    let parts = check_history(&h, &opts).unwrap().parts;
    assert!(
        parts
            .iter()
            .all(|p| matches!(p.verdict, PartVerdict::Linearizable)),
        "final reads are for the convergence checks"
    );
}
