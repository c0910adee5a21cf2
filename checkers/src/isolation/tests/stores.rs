//! Reference stores simulated in-process, each with known guarantees: a serializable store, a
//! snapshot-isolation store, a read-committed store and a register store that loses updates.
//! Clients run concurrently (interleaved at random, one seed); the checker must find exactly
//! the anomalies each store's guarantees allow.

use crate::check::{check, CheckOptions};
use crate::result::{CheckResult, Verdict};
use history::sim::SplitMix64;
use history::{Event, EventType, History, Process};
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq)]
enum Level {
    /// Each transaction runs atomically at its commit (strict serializable).
    Serializable,
    /// Reads from the snapshot taken at begin; first committer wins on written keys.
    SnapshotIsolation,
    /// Each read sees the latest committed state; writes apply at commit, unchecked.
    ReadCommitted,
}

#[derive(Clone)]
enum Planned {
    Read(u64),
    Append(u64, i64),
    Write(u64, i64),
}

struct Active {
    process: u64,
    mops: Vec<Planned>,
    next: usize,
    began: u64,
    snapshot: HashMap<u64, Vec<i64>>,
    reads: Vec<Value>,
    own: HashMap<u64, Vec<i64>>,
}

/// Runs `txns` transactions of `plan` on 4 concurrent clients against a store at `level`.
/// Registers are lists whose last element is the value (a write appends).
fn simulate(
    level: Level,
    seed: u64,
    txns: usize,
    plan: impl Fn(&mut SplitMix64, &mut i64) -> Vec<Planned>,
) -> History {
    let mut rng = SplitMix64::new(seed);
    let mut state: HashMap<u64, Vec<i64>> = HashMap::new();
    let mut last_commit: HashMap<u64, u64> = HashMap::new();
    let mut clock = 0u64;
    let mut next_val = 0i64;
    let mut active: Vec<Option<Active>> = (0..4).map(|_| None).collect();
    let mut events = Vec::new();
    let mut started = 0;
    let register = |m: &Planned| matches!(m, Planned::Write(..));
    loop {
        if started == txns && active.iter().all(Option::is_none) {
            break;
        }
        let w = rng.below(4) as usize;
        clock += 1;
        match active[w].take() {
            None if started < txns => {
                let mops = plan(&mut rng, &mut next_val);
                let inv: Vec<Value> = mops
                    .iter()
                    .map(|m| match m {
                        Planned::Read(k) => json!(["r", k, null]),
                        Planned::Append(k, v) => json!(["append", k, v]),
                        Planned::Write(k, v) => json!(["w", k, v]),
                    })
                    .collect();
                events.push(Event::new(
                    Process::Client(w as u64),
                    EventType::Invoke,
                    "txn",
                    Value::Array(inv),
                ));
                started += 1;
                active[w] = Some(Active {
                    process: w as u64,
                    mops,
                    next: 0,
                    began: clock,
                    snapshot: state.clone(),
                    reads: Vec::new(),
                    own: HashMap::new(),
                });
            }
            None => {}
            Some(mut a) if a.next < a.mops.len() && level != Level::Serializable => {
                let m = a.mops[a.next].clone();
                a.next += 1;
                let is_reg = a.mops.iter().any(register);
                let out = match m {
                    Planned::Read(k) => {
                        let base = match level {
                            Level::SnapshotIsolation => a.snapshot.get(&k).cloned(),
                            _ => state.get(&k).cloned(),
                        }
                        .unwrap_or_default();
                        let mut seen = base;
                        seen.extend(a.own.get(&k).cloned().unwrap_or_default());
                        if is_reg {
                            json!(["r", k, seen.last()])
                        } else {
                            json!(["r", k, seen])
                        }
                    }
                    Planned::Append(k, v) => {
                        a.own.entry(k).or_default().push(v);
                        json!(["append", k, v])
                    }
                    Planned::Write(k, v) => {
                        a.own.entry(k).or_default().push(v);
                        json!(["w", k, v])
                    }
                };
                a.reads.push(out);
                active[w] = Some(a);
            }
            Some(mut a) => {
                // Commit.
                if level == Level::Serializable {
                    for m in a.mops.clone() {
                        let out = match m {
                            Planned::Read(k) => {
                                json!(["r", k, state.get(&k).cloned().unwrap_or_default()])
                            }
                            Planned::Append(k, v) | Planned::Write(k, v) => {
                                state.entry(k).or_default().push(v);
                                last_commit.insert(k, clock);
                                json!(["append", k, v])
                            }
                        };
                        a.reads.push(out);
                    }
                    events.push(Event::new(
                        Process::Client(a.process),
                        EventType::Ok,
                        "txn",
                        Value::Array(a.reads),
                    ));
                    continue;
                }
                let conflict = level == Level::SnapshotIsolation
                    && a.own
                        .keys()
                        .any(|k| last_commit.get(k).is_some_and(|&c| c > a.began));
                if conflict {
                    let inv: Vec<Value> = a
                        .mops
                        .iter()
                        .map(|m| match m {
                            Planned::Read(k) => json!(["r", k, null]),
                            Planned::Append(k, v) => json!(["append", k, v]),
                            Planned::Write(k, v) => json!(["w", k, v]),
                        })
                        .collect();
                    events.push(Event::new(
                        Process::Client(a.process),
                        EventType::Fail,
                        "txn",
                        Value::Array(inv),
                    ));
                } else {
                    let mut keys: Vec<&u64> = a.own.keys().collect();
                    keys.sort_unstable();
                    for k in keys {
                        state
                            .entry(*k)
                            .or_default()
                            .extend(a.own[k].iter().copied());
                        last_commit.insert(*k, clock);
                    }
                    events.push(Event::new(
                        Process::Client(a.process),
                        EventType::Ok,
                        "txn",
                        Value::Array(a.reads),
                    ));
                }
            }
        }
    }
    for (i, e) in events.iter_mut().enumerate() {
        e.index = Some(i as u64);
        e.line = i + 1;
        e.time = Some(i as i64 * 1000);
    }
    History::from_events("store", events).expect("valid history")
}

/// Read two of three keys, append to one of them: the write-skew-prone shape.
fn skewed(rng: &mut SplitMix64, next: &mut i64) -> Vec<Planned> {
    let a = rng.below(3);
    let b = (a + 1 + rng.below(2)) % 3;
    *next += 1;
    vec![
        Planned::Read(a),
        Planned::Read(b),
        Planned::Append(if rng.chance(0.5) { a } else { b }, *next),
    ]
}

fn checked(h: &History, model: &str) -> CheckResult {
    check(
        h,
        &CheckOptions {
            expect: vec![model.into()],
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn serializable_store_has_no_anomaly() {
    for seed in 0..5 {
        let h = simulate(Level::Serializable, seed, 300, skewed);
        let r = checked(&h, "strict-serializable");
        assert_eq!(r.valid, Verdict::Valid, "seed {seed}: {:#?}", r.anomalies);
        assert!(r.anomalies.is_empty());
    }
}

#[test]
fn snapshot_isolation_store_shows_write_skew_only() {
    let mut skews = 0;
    for seed in 0..5 {
        let h = simulate(Level::SnapshotIsolation, seed, 300, skewed);
        let r = checked(&h, "serializable");
        assert!(
            r.anomaly_types.is_empty() || r.anomaly_types == ["G2-item"],
            "seed {seed}: {:?}",
            r.anomaly_types
        );
        skews += usize::from(!r.anomaly_types.is_empty());
        // Nothing that (strong) snapshot isolation forbids.
        let r = checked(&h, "strong-snapshot-isolation");
        assert_eq!(r.valid, Verdict::Valid, "seed {seed}: {:#?}", r.anomalies);
    }
    assert_eq!(skews, 5, "every seed's history should show write skew");
}

#[test]
fn read_committed_store_shows_g_single_or_worse() {
    for seed in 0..5 {
        let h = simulate(Level::ReadCommitted, seed, 300, skewed);
        let r = checked(&h, "serializable");
        // Read skew, and worse: nothing read committed forbids.
        assert_eq!(
            r.anomaly_types,
            [
                "G-nonadjacent-item",
                "G-single-item",
                "G2-item",
                "lost-update"
            ],
            "seed {seed}"
        );
        assert_eq!(
            checked(&h, "read-committed").valid,
            Verdict::Valid,
            "seed {seed}"
        );
    }
}

#[test]
fn lost_update_store() {
    // Registers: read x, then write x a new value, with no conflict check.
    let plan = |rng: &mut SplitMix64, next: &mut i64| {
        let k = rng.below(2);
        *next += 1;
        vec![Planned::Read(k), Planned::Write(k, *next)]
    };
    for seed in 0..5 {
        let h = simulate(Level::ReadCommitted, seed, 200, plan);
        let r = checked(&h, "serializable");
        // Two transactions read the same value and both wrote: lost update, whose two
        // anti-dependencies form a G2-item cycle.
        assert_eq!(r.anomaly_types, ["G2-item", "lost-update"], "seed {seed}");
        assert_eq!(
            checked(&h, "read-committed").valid,
            Verdict::Valid,
            "seed {seed}"
        );
    }
}

#[test]
fn generated_strict_serializable_histories_with_crashes_pass() {
    // history::sim's atomic store, with indeterminate transactions that took effect or not.
    for seed in 0..4 {
        let events = history::sim::list_append(&history::sim::ListAppendConfig {
            txns: 3000,
            crash_rate: 0.05,
            seed,
            ..Default::default()
        });
        let h = History::from_events("sim", events).unwrap();
        let r = checked(&h, "strict-serializable");
        assert_eq!(
            r.valid,
            Verdict::Valid,
            "seed {seed}: {:#?}",
            r.anomaly_types
        );
        assert!(r.anomalies.is_empty());
    }
}
