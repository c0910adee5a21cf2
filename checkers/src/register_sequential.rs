//! Sequential consistency of a single-register history: is there one total order of the ops
//! that respects each process's order (not real time) in which every read returns the latest
//! write? Sequential consistency is not compositional over keys, so only histories of one
//! register are decided; others stay `unknown`.
//!
//! The search is Wing-Gong's without real-time constraints: a state is how far each process has
//! got plus the register's value; an op that does not change the value and can run now (a read
//! of the current value, a cas that fails) is always taken first, which loses no solution.
//! `info` writes and cas may take effect at any point of the order, or never (always, when they
//! are the only writer of a value someone read); failed and indeterminate reads say nothing and
//! are skipped. Moves that write a value some process waits for, then ops that completed
//! earlier, are tried first; a state whose next op needs a value whose only writer is already
//! placed is abandoned. Visited states are remembered; a search that exceeds its state budget
//! is `unknown`.

use crate::anomaly::Anomaly;
use crate::check::CheckOptions;
use crate::semantics::Semantics;
use history::{History, Op, Outcome};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// States the search may visit before giving up (unknown).
pub const STATE_BUDGET: usize = 500_000;

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Needs the value; leaves it.
    Read(u32),
    Write(u32),
    /// Expected, new; `ok`: succeeded (needs expected), else failed (needs anything else).
    Cas {
        expected: u32,
        new: u32,
        ok: bool,
    },
    /// Nothing known (failed or indeterminate read, failed write).
    Skip,
    /// May take effect (write `new` if the value is `expected`, or unconditionally) or not.
    Maybe {
        expected: Option<u32>,
        new: u32,
    },
}

/// What the search found.
pub enum SeqVerdict {
    Sequential,
    Violation(Anomaly),
    Unknown(String),
}

/// Decides sequential consistency of a history whose ops all act on one register. A failed
/// cas and a read of nil mean what the history's conventions say ([`Semantics`]).
pub fn check_single_register(h: &History, opts: &CheckOptions) -> SeqVerdict {
    let sem = Semantics::resolve(h, opts, false);
    let mut vals: HashMap<String, u32> = HashMap::new();
    vals.insert(Value::Null.to_string(), 0);
    let mut id = |v: Option<&Value>| -> u32 {
        let s = v.unwrap_or(&Value::Null).to_string();
        let n = vals.len() as u32;
        *vals.entry(s).or_insert(n)
    };
    let procs = h.processes();
    let mut lanes: Vec<Vec<(Step, &Op)>> = vec![Vec::new(); procs.len()];
    for o in &h.ops {
        let step = match (o.f.as_str(), o.outcome) {
            ("read", Outcome::Ok) if !sem.read_constrains(&o.value) => Step::Skip,
            ("read", Outcome::Ok) => Step::Read(id(Some(&o.value))),
            ("cas", Outcome::Fail) if !sem.cas_failure_observes(o) => Step::Skip,
            ("write", Outcome::Ok) => Step::Write(id(Some(&o.value))),
            ("write", Outcome::Info) => Step::Maybe {
                expected: None,
                new: id(Some(&o.value)),
            },
            ("cas", out) if out != Outcome::Info => Step::Cas {
                expected: id(o.value.get(0)),
                new: id(o.value.get(1)),
                ok: out == Outcome::Ok,
            },
            ("cas", _) => Step::Maybe {
                expected: Some(id(o.value.get(0))),
                new: id(o.value.get(1)),
            },
            _ => Step::Skip,
        };
        let lane = procs.binary_search(&o.process).unwrap_or(0);
        lanes[lane].push((step, o));
    }
    // Values some op certainly read, and how many ops write each value: an indeterminate op
    // that is the only writer of a value someone read must take effect, so it is never skipped.
    let mut read_vals: HashSet<u32> = HashSet::new();
    let mut writers: HashMap<u32, usize> = HashMap::new();
    for lane in &lanes {
        for (step, _) in lane {
            match *step {
                Step::Read(x) => {
                    read_vals.insert(x);
                }
                Step::Cas { expected, new, ok } => {
                    if ok {
                        read_vals.insert(expected);
                    }
                    *writers.entry(new).or_default() += 1;
                }
                Step::Write(x) | Step::Maybe { new: x, .. } => *writers.entry(x).or_default() += 1,
                Step::Skip => {}
            }
        }
    }
    let must = |x: u32| read_vals.contains(&x) && writers.get(&x) == Some(&1);
    // Where the one writer of each uniquely written value is (lane, position).
    let mut writer_at: HashMap<u32, (usize, u32)> = HashMap::new();
    for (l, lane) in lanes.iter().enumerate() {
        for (i, (step, _)) in lane.iter().enumerate() {
            if let Step::Write(x) | Step::Cas { new: x, .. } | Step::Maybe { new: x, .. } = *step {
                if writers.get(&x) == Some(&1) {
                    writer_at.insert(x, (l, i as u32));
                }
            }
        }
    }
    // A state is dead when some lane's next op needs a value that can never come back: its
    // only writer is already past (or, for nil, nobody writes nil and the value changed).
    let dead = |s: &[u32]| {
        let cur = s[s.len() - 1];
        lanes.iter().enumerate().any(|(l, lane)| {
            let need = match lane.get(s[l] as usize).map(|x| x.0) {
                Some(Step::Read(x)) => x,
                Some(Step::Cas {
                    expected, ok: true, ..
                }) => expected,
                _ => return false,
            };
            if need == cur {
                return false;
            }
            if need == 0 {
                return !writers.contains_key(&0);
            }
            writer_at.get(&need).is_some_and(|&(wl, wi)| s[wl] > wi)
        })
    };
    let names: HashMap<u32, String> = vals.iter().map(|(s, &i)| (i, s.clone())).collect();
    let show = |v: u32| {
        if v == 0 {
            "nil".to_string()
        } else {
            names[&v].clone()
        }
    };
    // State: positions per lane, then the value.
    let start: Vec<u32> = vec![0; lanes.len() + 1];
    let mut seen: HashSet<Vec<u32>> = HashSet::new();
    let mut stack = vec![start];
    let mut best: Option<Vec<u32>> = None;
    let placed = |s: &[u32]| s[..s.len() - 1].iter().map(|&p| p as usize).sum::<usize>();
    while let Some(mut s) = stack.pop() {
        let v = lanes.len();
        // Free steps first: reads of the current value, failed cas, skips.
        loop {
            let mut moved = false;
            for (l, lane) in lanes.iter().enumerate() {
                while let Some((step, _)) = lane.get(s[l] as usize) {
                    let free = match *step {
                        Step::Skip => true,
                        Step::Read(x) => x == s[v],
                        Step::Cas {
                            expected,
                            ok: false,
                            ..
                        } => expected != s[v],
                        _ => false,
                    };
                    if !free {
                        break;
                    }
                    s[l] += 1;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        if !seen.insert(s.clone()) {
            continue;
        }
        if seen.len() > STATE_BUDGET {
            return SeqVerdict::Unknown(format!(
                "the sequential-consistency search visited more than {STATE_BUDGET} states without deciding"
            ));
        }
        if best.as_ref().is_none_or(|b| placed(b) < placed(&s)) {
            best = Some(s.clone());
        }
        if dead(&s) {
            continue;
        }
        if lanes
            .iter()
            .enumerate()
            .all(|(l, lane)| s[l] as usize == lane.len())
        {
            return SeqVerdict::Sequential;
        }
        // Values the lanes' next ops wait for: a move that writes one of them goes first.
        let wanted: Vec<u32> = lanes
            .iter()
            .enumerate()
            .filter_map(|(l, lane)| match lane.get(s[l] as usize)?.0 {
                Step::Read(x) => Some(x),
                Step::Cas {
                    expected, ok: true, ..
                } => Some(expected),
                _ => None,
            })
            .collect();
        // (priority, lane, new value); the stack pops the highest priority first: a write
        // someone waits for, then the op that completed first (real time is a good guess).
        let mut moves: Vec<((u8, std::cmp::Reverse<usize>), usize, u32)> = Vec::new();
        for (l, lane) in lanes.iter().enumerate() {
            let Some((step, o)) = lane.get(s[l] as usize) else {
                continue;
            };
            let done = std::cmp::Reverse(o.complete_pos().unwrap_or(usize::MAX));
            let rank = |x: u32| (if wanted.contains(&x) { 2 } else { 0 }, done);
            match *step {
                Step::Write(x) => moves.push((rank(x), l, x)),
                Step::Cas {
                    expected,
                    new,
                    ok: true,
                } if expected == s[v] => moves.push((rank(new), l, new)),
                Step::Maybe { expected, new } => {
                    if !must(new) {
                        moves.push(((1, done), l, s[v]));
                    }
                    if expected.is_none_or(|e| e == s[v]) {
                        moves.push((rank(new), l, new));
                    }
                }
                _ => {}
            }
        }
        moves.sort_by_key(|m| m.0);
        for (_, l, value) in moves {
            let mut t = s.clone();
            t[l] += 1;
            t[v] = value;
            stack.push(t);
        }
    }
    // No order: explain from the furthest state reached.
    let b = best.unwrap_or_default();
    let v = lanes.len();
    let mut blocked = Vec::new();
    let mut ops = Vec::new();
    for (l, lane) in lanes.iter().enumerate() {
        if let Some((step, o)) = lane.get(b[l] as usize) {
            ops.push(o.index);
            blocked.push(match *step {
                Step::Read(x) => {
                    format!("op {} (process {}) reads {}", o.index, o.process, show(x))
                }
                Step::Cas { expected, .. } => format!(
                    "op {} (process {}) is a cas from {}",
                    o.index,
                    o.process,
                    show(expected)
                ),
                _ => format!("op {} (process {})", o.index, o.process),
            });
        }
    }
    ops.sort_unstable();
    SeqVerdict::Violation(
        Anomaly::new(
            "incompatible-order",
            ops,
            format!(
                "no total order of the ops that keeps each process's order explains every read: the longest such order places {} ops and leaves the register at {}, where none of the next ops can follow: {}",
                placed(&b),
                show(b[v]),
                blocked.join("; ")
            ),
        )
        .with_data("model", Value::from("sequential")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::{Event, EventType, Process};

    /// `P F VALUE [fail|pfail|info]` ops, each completed before the next is invoked; `pfail`
    /// is a fail with `error: "precondition-failed"`.
    fn hist(spec: &str) -> History {
        let mut events = Vec::new();
        for op in spec.split(';').map(str::trim) {
            let t: Vec<&str> = op.split_whitespace().collect();
            let p: u64 = t[0].parse().unwrap();
            let f = match t[1] {
                "r" => "read",
                "w" => "write",
                f => f,
            };
            let v: Value = if t[2] == "nil" {
                Value::Null
            } else {
                serde_json::from_str(t[2]).unwrap()
            };
            let typ = match t.get(3).copied() {
                Some("fail" | "pfail") => EventType::Fail,
                Some("info") => EventType::Info,
                _ => EventType::Ok,
            };
            let inv = if f == "read" { Value::Null } else { v.clone() };
            events.push(Event::new(Process::Client(p), EventType::Invoke, f, inv));
            let mut done = Event::new(Process::Client(p), typ, f, v);
            if t.get(3) == Some(&"pfail") {
                done.error = Some(history::PRECONDITION_FAILED.into());
            }
            events.push(done);
        }
        History::from_events("t", events).unwrap()
    }

    fn decide(spec: &str) -> Result<(), Box<Anomaly>> {
        match check_single_register(&hist(spec), &CheckOptions::default()) {
            SeqVerdict::Sequential => Ok(()),
            SeqVerdict::Violation(a) => Err(Box::new(a)),
            SeqVerdict::Unknown(u) => panic!("{u}"),
        }
    }

    #[test]
    fn stale_but_sequential_is_fine() {
        // Not linearizable (process 1 reads 1 after 2 was written), but sequential: order
        // 0:w1, 1:r1, 0:w2, 1's later read 2.
        decide("0 w 1; 0 w 2; 1 r 1; 1 r 2").unwrap();
        decide("0 w 1; 1 r nil; 1 r 1").unwrap();
        decide("0 w 1 info; 1 r nil; 1 r 1; 2 r 1").unwrap();
        decide("0 w 1; 0 cas [1,2]; 1 cas [1,3] fail; 1 r 2").unwrap();
    }

    #[test]
    fn going_back_in_one_process_is_not_sequential() {
        let a = decide("0 w 1; 0 w 2; 1 r 2; 1 r 1").unwrap_err();
        assert_eq!(a.kind, "incompatible-order");
        assert!(a.explanation.contains("reads 1"), "{}", a.explanation);
        // Two readers disagreeing on the order of two writes.
        decide("0 w 1; 1 w 2; 2 r 1; 2 r 2; 3 r 2; 3 r 1").unwrap_err();
        // A cas that succeeded from a value that was never current at its point.
        decide("0 w 1; 0 w 2; 0 cas [1,3]").unwrap_err();
        // Its own write must be seen.
        decide("0 w 1; 0 r nil").unwrap_err();
    }

    #[test]
    fn only_a_failed_precondition_observes_the_register() {
        // Process 1 read 1, then its cas from 1 found something else: nothing else is ever
        // written, so no order works...
        let a = decide("0 w 1; 1 r 1; 1 cas [1,3] pfail").unwrap_err();
        assert_eq!(a.kind, "incompatible-order");
        // ...but a cas that failed for another reason (unavailable) did not happen at all.
        decide("0 w 1; 1 r 1; 1 cas [1,3] fail").unwrap();
    }
}
