//! The analyses for the weak models of list-append histories, as registered in
//! [`crate::check::analyses`]: session guarantees plus causal+ ([`SessionCausal`]), and
//! eventual convergence ([`Convergence`]). They share the [`AppendIndex`] and run only the
//! detectors whose anomaly types the expected models forbid.

use crate::appends::{duplicate_elements_cases, garbage_read_cases, is_list_append, AppendIndex};
use crate::causal::{self, CausalIndex};
use crate::check::{Analysis, CheckError, CheckOptions, Findings};
use crate::convergence;
use crate::session::{render, SessionIndex, SessionMiss};
use history::History;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Session guarantees and causal+ consistency on list-append transactions.
pub struct SessionCausal;

/// Replica convergence (divergence, lost writes) and inconsistency windows.
pub struct Convergence;

const SESSION_TYPES: &[&str] = &[
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "writes-follow-reads",
];
const CAUSAL_TYPES: &[&str] = &["causal-stale-read", "causal-cycle", "causal-order-conflict"];

fn ambiguity(ix: &AppendIndex, out: &mut Findings) {
    if let Some(a) = ix.ambiguous.first() {
        let e = ix.appends[a.elem as usize];
        out.unknown_reasons.push(format!(
            "{} appended values were appended more than once (e.g. {} to {} by op {} and op {}); list-append checking needs unique elements, so reads of them cannot be attributed",
            ix.ambiguous.len(),
            ix.vals.show(e.value),
            ix.show_key(e.key),
            ix.index(a.first as u32),
            ix.index(a.second as u32)
        ));
    }
}

impl Analysis for SessionCausal {
    fn name(&self) -> &'static str {
        "session-causal"
    }
    /// On txn histories, the isolation analysis's process and realtime cycles decide the
    /// session and causal guarantees that the transactional models imply.
    fn decided_by(&self) -> &'static [&'static str] {
        &["isolation"]
    }
    fn detects(&self) -> &'static [&'static str] {
        &[
            "read-your-writes",
            "monotonic-reads",
            "monotonic-writes",
            "writes-follow-reads",
            "causal-stale-read",
            "causal-cycle",
            "causal-order-conflict",
        ]
    }
    fn applies(&self, h: &History) -> bool {
        is_list_append(h)
    }
    fn run(
        &self,
        h: &History,
        _opts: &CheckOptions,
        forbidden: &BTreeSet<&'static str>,
        out: &mut Findings,
    ) -> Result<(), CheckError> {
        let ix = AppendIndex::build(h)?;
        out.extend(garbage_read_cases(&ix));
        out.extend(duplicate_elements_cases(&ix));
        ambiguity(&ix, out);
        let want = |t: &str| forbidden.contains(t);
        let causal_wanted = CAUSAL_TYPES.iter().any(|t| want(t));
        // The causal clocks do not depend on the session detectors: build them on the other
        // core meanwhile.
        let (s, misses, causal) = std::thread::scope(|scope| {
            let causal = causal_wanted.then(|| scope.spawn(|| CausalIndex::build(&ix)));
            let s = SessionIndex::build(&ix);
            let run = |kind: &str| match kind {
                "read-your-writes" => s.read_your_writes(),
                "monotonic-reads" => s.monotonic_reads(),
                "monotonic-writes" => s.monotonic_writes(),
                _ => s.writes_follow_reads(),
            };
            let wanted = |kind: &&&str| want(kind) || causal_wanted;
            // writes-follow-reads (about as heavy as the other three together) runs beside
            // them (the causal clocks are usually done by now); results keep SESSION_TYPES
            // order.
            let (light, heavy) = SESSION_TYPES.split_at(3);
            let misses: Vec<Vec<SessionMiss>> = std::thread::scope(|inner| {
                let heavy = inner.spawn(|| {
                    heavy
                        .iter()
                        .filter(wanted)
                        .map(|k| run(k))
                        .collect::<Vec<_>>()
                });
                let mut misses: Vec<_> = light.iter().filter(wanted).map(|k| run(k)).collect();
                misses.extend(join(heavy));
                misses
            });
            (s, misses, causal.map(join))
        });
        for found in &misses {
            for m in found {
                if want(m.kind) {
                    out.add(render(&ix, m));
                }
            }
        }
        out.stats.insert(
            "list-append".into(),
            json!({"reads": ix.reads.len(), "elements": ix.appends.len(), "keys": ix.keys.len(), "sessions": ix.lane_ops.len()}),
        );
        match causal {
            None => {}
            Some(Err(why)) => out.unknown_reasons.push(why),
            Some(Ok(c)) => {
                out.extend(causal::causal_cycle_cases(&c));
                let covered = causal::covered(&misses.concat());
                drop(misses);
                // Order conflicts are searched key by key, two thirds of the keys (by work) on
                // the second core, the rest here after the (lighter) stale reads.
                let by_key = causal::ReadsByKey::new(&ix, &s.chains);
                let split = by_key.split(2.0 / 3.0);
                let (stale, order) = std::thread::scope(|scope| {
                    let first = scope.spawn(|| {
                        causal::order_conflicts_in_keys(&c, &s.chains, &by_key, 0..split)
                    });
                    let stale = causal::causal_stale_read_cases(&c, &s.chains, &covered);
                    let rest = causal::order_conflicts_in_keys(
                        &c,
                        &s.chains,
                        &by_key,
                        split..s.chains.of_key.len(),
                    );
                    let mut order = join(first);
                    order.extend(rest);
                    (stale, order)
                });
                out.extend(stale);
                out.extend(order);
            }
        }
        Ok(())
    }
}

/// Joins a scoped thread, passing on its panic (a bug, never bad input) unchanged.
fn join<T>(t: std::thread::ScopedJoinHandle<'_, T>) -> T {
    t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

impl Analysis for Convergence {
    fn name(&self) -> &'static str {
        "convergence"
    }
    fn detects(&self) -> &'static [&'static str] {
        &["divergence", "lost-write"]
    }
    fn applies(&self, h: &History) -> bool {
        is_list_append(h)
    }
    fn run(
        &self,
        h: &History,
        _opts: &CheckOptions,
        _forbidden: &BTreeSet<&'static str>,
        out: &mut Findings,
    ) -> Result<(), CheckError> {
        let ix = AppendIndex::build(h)?;
        out.extend(convergence::divergence_cases(&ix));
        out.extend(convergence::lost_write_cases(&ix));
        out.unknown_reasons.extend(convergence::unjudged_keys(&ix));
        if let Some(w) = convergence::inconsistency_windows(&ix) {
            out.stats.insert(
                "inconsistency-window-ns".into(),
                convergence::window_stats(w),
            );
        }
        let finals = ix
            .reads
            .iter()
            .filter(|r| h.ops[r.op as usize].is_final())
            .count();
        out.stats.insert("final-reads".into(), Value::from(finals));
        Ok(())
    }
}

#[cfg(test)]
mod properties {
    //! Histories from the simulated strict-serializable store have no anomalies of any type;
    //! the same histories with one injected violation report it.
    use crate::check::{check, CheckOptions};
    use crate::result::Verdict;
    use history::sim::{list_append, ListAppendConfig};
    use history::{Event, EventType, History};
    use serde_json::Value;

    fn cfg(seed: u64, crash_rate: f64) -> ListAppendConfig {
        ListAppendConfig {
            txns: 600,
            processes: 6,
            active_keys: 4,
            appends_per_key: 12,
            crash_rate,
            seed,
            ..Default::default()
        }
    }

    fn expect(models: &[&str]) -> CheckOptions {
        CheckOptions {
            expect: models.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        }
    }

    fn run(events: Vec<Event>) -> crate::CheckResult {
        let h = History::from_events("sim", events).unwrap();
        check(&h, &expect(&["session", "causal"])).unwrap()
    }

    /// (event position, micro-op position, process, key, list) of every completed list read.
    fn reads(events: &[Event]) -> Vec<(usize, usize, u64, Value, Vec<Value>)> {
        let mut out = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if e.typ != EventType::Ok {
                continue;
            }
            for (j, m) in e.value.as_array().unwrap().iter().enumerate() {
                let m = m.as_array().unwrap();
                if m[0] == "r" {
                    let list = m[2].as_array().cloned().unwrap_or_default();
                    out.push((i, j, e.process.client().unwrap(), m[1].clone(), list));
                }
            }
        }
        out
    }

    fn set_read(events: &mut [Event], at: usize, mop: usize, list: Vec<Value>) {
        events[at].value[mop][2] = Value::Array(list);
    }

    /// The invocation index of the op whose completion is at `pos`.
    fn op_index(events: &[Event], pos: usize) -> u64 {
        let p = events[pos].process;
        (0..pos)
            .rev()
            .find(|&i| events[i].process == p && events[i].typ == EventType::Invoke)
            .unwrap() as u64
    }

    #[test]
    fn simulated_histories_have_no_anomalies() {
        for seed in 0..12 {
            for crash in [0.0, 0.1] {
                let r = run(list_append(&cfg(seed, crash)));
                assert_eq!(
                    r.valid,
                    Verdict::Valid,
                    "seed {seed} crash {crash}: {:?}",
                    r.anomalies
                );
                assert!(r.anomalies.is_empty());
                let h = History::from_events("sim", list_append(&cfg(seed, crash))).unwrap();
                let s = check(&h, &expect(&["session", "causal", "eventual"])).unwrap();
                // No final reads: eventual cannot be judged, and says so.
                assert_eq!(s.valid, Verdict::Unknown, "seed {seed}");
                assert!(s.anomalies.is_empty());
            }
        }
    }

    #[test]
    fn dropping_an_element_a_session_saw_is_monotonic_reads() {
        let mut hits = 0;
        for seed in 0..8 {
            let mut ev = list_append(&cfg(seed, 0.05));
            let rs = reads(&ev);
            // A later read of the same process and key containing an element the earlier had.
            let found = rs.iter().enumerate().find_map(|(a, ra)| {
                ra.4.first()?;
                rs[a + 1..]
                    .iter()
                    .find(|rb| rb.2 == ra.2 && rb.3 == ra.3 && rb.0 > ra.0)
                    .map(|rb| (ra.clone(), rb.clone()))
            });
            let Some((ra, rb)) = found else { continue };
            let gone = ra.4[0].clone();
            let later: Vec<Value> = rb.4.iter().filter(|v| **v != gone).cloned().collect();
            set_read(&mut ev, rb.0, rb.1, later);
            let reader = op_index(&ev, rb.0);
            let r = run(ev);
            assert_eq!(r.valid, Verdict::Invalid);
            let mr = &r.anomalies["monotonic-reads"];
            assert!(mr.iter().any(|a| a.ops.last() == Some(&reader)), "{mr:?}");
            hits += 1;
        }
        assert!(hits >= 6, "only {hits} seeds had a suitable pair of reads");
    }

    #[test]
    fn swapping_two_elements_is_an_order_anomaly() {
        let mut hits = 0;
        for seed in 0..8 {
            let mut ev = list_append(&cfg(seed, 0.0));
            let Some(rb) = reads(&ev).into_iter().rev().find(|r| r.4.len() >= 3) else {
                continue;
            };
            let mut list = rb.4.clone();
            list.swap(0, 1);
            set_read(&mut ev, rb.0, rb.1, list);
            let r = run(ev);
            assert_eq!(r.valid, Verdict::Invalid, "seed {seed}");
            // Other reads saw the original order: either they conflict, or the two were one
            // session's appends (monotonic-writes).
            assert!(
                r.anomalies.contains_key("causal-order-conflict")
                    || r.anomalies.contains_key("monotonic-writes"),
                "seed {seed}: {:?}",
                r.anomaly_types
            );
            hits += 1;
        }
        assert_eq!(hits, 8);
    }

    #[test]
    fn garbage_and_duplicates_are_reported() {
        let mut ev = list_append(&cfg(3, 0.0));
        let rs = reads(&ev);
        let rb = rs.iter().rev().find(|r| !r.4.is_empty()).unwrap().clone();
        let mut list = rb.4.clone();
        list.push(Value::from(999_999));
        set_read(&mut ev, rb.0, rb.1, list);
        let r = run(ev);
        assert_eq!(r.anomaly_types, vec!["garbage-read".to_string()]);
        let mut ev = list_append(&cfg(3, 0.0));
        let mut list = rb.4.clone();
        list.push(list[0].clone());
        set_read(&mut ev, rb.0, rb.1, list);
        let r = run(ev);
        assert!(
            r.anomalies.contains_key("duplicate-elements"),
            "{:?}",
            r.anomaly_types
        );
    }

    #[test]
    fn dropping_own_append_is_read_your_writes() {
        let mut ev = list_append(&cfg(5, 0.0));
        // A process's read that contains an element the same process appended earlier.
        let mut own: std::collections::HashMap<(u64, String), Vec<Value>> = Default::default();
        let mut target = None;
        for (i, e) in ev.iter().enumerate() {
            if e.typ != EventType::Ok {
                continue;
            }
            let p = e.process.client().unwrap();
            for (j, m) in e.value.as_array().unwrap().iter().enumerate() {
                let k = m[1].to_string();
                if m[0] == "append" {
                    own.entry((p, k)).or_default().push(m[2].clone());
                } else if let Some(mine) = own.get(&(p, k)) {
                    let list = m[2].as_array().cloned().unwrap_or_default();
                    if let Some(x) = mine.iter().find(|x| list.contains(x)) {
                        target = Some((i, j, x.clone(), list));
                    }
                }
            }
            if target.is_some() {
                break;
            }
        }
        let (i, j, x, list) = target.expect("a read of one's own append");
        set_read(
            &mut ev,
            i,
            j,
            list.into_iter().filter(|v| *v != x).collect(),
        );
        let reader = op_index(&ev, i);
        let r = run(ev);
        let ryw = &r.anomalies["read-your-writes"];
        assert_eq!(ryw[0].ops.last(), Some(&reader));
    }
}
