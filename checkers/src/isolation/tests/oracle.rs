//! Differential test against a brute-force serializability oracle: small random list-append
//! histories (reads see arbitrary prefixes, so many are not serializable), each ending with a
//! transaction that reads every key in full so the version order is complete. The oracle tries
//! every order of the transactions; the checker must agree both ways.

use crate::check::{check, CheckOptions};
use crate::result::Verdict;
use history::sim::SplitMix64;
use history::{Event, EventType, History, Process};
use serde_json::{json, Value};

#[derive(Clone, Debug)]
enum M {
    Read(u64, Vec<i64>),
    Append(u64, i64),
}

fn generate(rng: &mut SplitMix64, complete: bool) -> Vec<Vec<M>> {
    let keys = 2;
    let mut lists: Vec<Vec<i64>> = vec![Vec::new(); keys];
    let mut next = 0;
    let n = 2 + rng.below(4) as usize;
    let mut txns = Vec::new();
    for _ in 0..n {
        let mut mops = Vec::new();
        let mut own: Vec<Vec<i64>> = vec![Vec::new(); keys];
        for _ in 0..1 + rng.below(3) {
            let k = rng.below(keys as u64) as usize;
            if rng.chance(0.5) {
                next += 1;
                lists[k].push(next);
                own[k].push(next);
                mops.push(M::Append(k as u64, next));
            } else {
                // Any prefix of the others' appends so far, then our own appends.
                let others: Vec<i64> = lists[k]
                    .iter()
                    .copied()
                    .filter(|x| !own[k].contains(x))
                    .collect();
                let cut = rng.below(others.len() as u64 + 1) as usize;
                let mut seen = others[..cut].to_vec();
                seen.extend(&own[k]);
                mops.push(M::Read(k as u64, seen));
            }
        }
        txns.push(mops);
    }
    if complete {
        txns.push(
            (0..keys)
                .map(|k| M::Read(k as u64, lists[k].clone()))
                .collect(),
        );
    }
    txns
}

fn serializable_by_brute_force(txns: &[Vec<M>]) -> bool {
    fn go(txns: &[Vec<M>], used: &mut Vec<bool>, lists: &mut Vec<Vec<i64>>) -> bool {
        if used.iter().all(|&u| u) {
            return true;
        }
        for i in 0..txns.len() {
            if used[i] {
                continue;
            }
            let saved = lists.clone();
            let mut ok = true;
            for m in &txns[i] {
                match m {
                    M::Append(k, v) => lists[*k as usize].push(*v),
                    M::Read(k, xs) => {
                        if &lists[*k as usize] != xs {
                            ok = false;
                            break;
                        }
                    }
                }
            }
            if ok {
                used[i] = true;
                if go(txns, used, lists) {
                    return true;
                }
                used[i] = false;
            }
            *lists = saved;
        }
        false
    }
    go(txns, &mut vec![false; txns.len()], &mut vec![Vec::new(); 2])
}

fn to_history(txns: &[Vec<M>]) -> History {
    let json_of = |m: &M, done: bool| match m {
        M::Append(k, v) => json!(["append", k, v]),
        M::Read(k, xs) if done => json!(["r", k, xs]),
        M::Read(k, _) => json!(["r", k, null]),
    };
    let mut events = Vec::new();
    // All concurrent: every invocation, then every completion.
    for (p, t) in txns.iter().enumerate() {
        let v = Value::Array(t.iter().map(|m| json_of(m, false)).collect());
        events.push(Event::new(
            Process::Client(p as u64),
            EventType::Invoke,
            "txn",
            v,
        ));
    }
    for (p, t) in txns.iter().enumerate() {
        let v = Value::Array(t.iter().map(|m| json_of(m, true)).collect());
        events.push(Event::new(
            Process::Client(p as u64),
            EventType::Ok,
            "txn",
            v,
        ));
    }
    History::from_events("oracle", events).unwrap()
}

#[test]
fn agrees_with_brute_force_serializability() {
    let mut rng = SplitMix64::new(42);
    let (mut yes, mut no) = (0, 0);
    for case in 0..1500 {
        let txns = generate(&mut rng, true);
        let oracle = serializable_by_brute_force(&txns);
        let r = check(
            &to_history(&txns),
            &CheckOptions {
                expect: vec!["serializable".into()],
                ..Default::default()
            },
        )
        .unwrap();
        let checker = match r.valid {
            Verdict::Valid => true,
            Verdict::Invalid => false,
            Verdict::Unknown => panic!("case {case}: unknown"),
        };
        assert_eq!(
            checker, oracle,
            "case {case}: checker says {:?}, oracle says serializable={oracle}: {txns:?}",
            r.anomaly_types
        );
        if oracle {
            yes += 1
        } else {
            no += 1
        }
    }
    // Both kinds of history must be well represented, or the test proves little.
    assert!(yes > 300 && no > 300, "serializable {yes}, not {no}");
}

#[test]
fn never_rejects_a_serializable_history_even_with_unobserved_appends() {
    // Without the final full read the version order is incomplete: the checker may miss
    // anomalies, but whatever it reports must be real.
    let mut rng = SplitMix64::new(7);
    let mut rejected = 0;
    for case in 0..1500 {
        let txns = generate(&mut rng, false);
        let r = check(
            &to_history(&txns),
            &CheckOptions {
                expect: vec!["serializable".into()],
                ..Default::default()
            },
        )
        .unwrap();
        if r.valid == Verdict::Invalid {
            rejected += 1;
            assert!(
                !serializable_by_brute_force(&txns),
                "case {case}: {:?} on a serializable history {txns:?}",
                r.anomaly_types
            );
        }
    }
    assert!(rejected > 100, "only {rejected} rejections");
}

#[derive(Clone, Debug)]
enum R {
    Read(u64, Option<i64>),
    Write(u64, i64),
}

fn register_serializable(txns: &[Vec<R>]) -> bool {
    fn go(txns: &[Vec<R>], used: &mut Vec<bool>, regs: &mut [Option<i64>; 2]) -> bool {
        if used.iter().all(|&u| u) {
            return true;
        }
        for i in 0..txns.len() {
            if used[i] {
                continue;
            }
            let saved = *regs;
            let ok = txns[i].iter().all(|m| match m {
                R::Write(k, v) => {
                    regs[*k as usize] = Some(*v);
                    true
                }
                R::Read(k, v) => regs[*k as usize] == *v,
            });
            if ok {
                used[i] = true;
                if go(txns, used, regs) {
                    return true;
                }
                used[i] = false;
            }
            *regs = saved;
        }
        false
    }
    go(txns, &mut vec![false; txns.len()], &mut [None, None])
}

#[test]
fn registers_never_rejected_when_serializable() {
    // Reads return nil or any value written so far: the inference rules must stay sound.
    let mut rng = SplitMix64::new(11);
    let (mut rejected, mut cases) = (0, 0);
    for case in 0..2000 {
        let mut written: Vec<Vec<i64>> = vec![Vec::new(); 2];
        let mut next = 0;
        let txns: Vec<Vec<R>> = (0..2 + rng.below(3))
            .map(|_| {
                (0..1 + rng.below(3))
                    .map(|_| {
                        let k = rng.below(2);
                        if rng.chance(0.5) {
                            next += 1;
                            written[k as usize].push(next);
                            R::Write(k, next)
                        } else {
                            let w = &written[k as usize];
                            let i = rng.below(w.len() as u64 + 1) as usize;
                            R::Read(k, w.get(i).copied())
                        }
                    })
                    .collect()
            })
            .collect();
        let mut events = Vec::new();
        let js = |m: &R, done: bool| match m {
            R::Write(k, v) => json!(["w", k, v]),
            R::Read(k, v) if done => json!(["r", k, v]),
            R::Read(k, _) => json!(["r", k, null]),
        };
        for (p, t) in txns.iter().enumerate() {
            let v = Value::Array(t.iter().map(|m| js(m, false)).collect());
            events.push(Event::new(
                Process::Client(p as u64),
                EventType::Invoke,
                "txn",
                v,
            ));
        }
        for (p, t) in txns.iter().enumerate() {
            let v = Value::Array(t.iter().map(|m| js(m, true)).collect());
            events.push(Event::new(
                Process::Client(p as u64),
                EventType::Ok,
                "txn",
                v,
            ));
        }
        let h = History::from_events("reg", events).unwrap();
        // A history with no write at all is read as list-append; skip those.
        if !txns.iter().flatten().any(|m| matches!(m, R::Write(..))) {
            continue;
        }
        cases += 1;
        let r = check(
            &h,
            &CheckOptions {
                expect: vec!["serializable".into()],
                ..Default::default()
            },
        )
        .unwrap();
        if r.valid == Verdict::Invalid {
            rejected += 1;
            assert!(
                !register_serializable(&txns),
                "case {case}: {:?} on a serializable history {txns:?}",
                r.anomaly_types
            );
        }
    }
    assert!(
        cases > 1000 && rejected > 200,
        "{cases} cases, {rejected} rejections"
    );
}
