//! The counter workload: `increment` ops (value: the delta) and `read` ops (value: the count).
//! Every ok read must lie within the bounds the history allows: at least the initial value plus
//! every increment certainly applied before the read began (acknowledged before its
//! invocation), and at most that plus every increment that may have been applied by the time
//! the read completed (invoked before its completion, not failed). Negative deltas swap sides.
//!
//! Final reads (`"phase": "final"`) read each replica's own state without coordination; a
//! lagging replica may be behind, so they are judged together: the highest final read must
//! reach the lower bound (some replica has every acknowledged increment), and none may exceed
//! its upper bound.
//!
//! Three anomaly types, so that weaker stores can be held to what they do promise:
//! - `counter-out-of-bounds`: a read during the run below its lower bound (it missed
//!   acknowledged increments: stale, or they were lost). Only a linearizable counter forbids it.
//! - `counter-too-high`: any read above its upper bound (it counts increments nobody attempted).
//! - `lost-increment`: the highest final read is below its lower bound: after healing no
//!   replica has every acknowledged increment.

use crate::anomaly::Anomaly;
use crate::check::{Analysis, CheckError, CheckOptions, Findings};
use history::{History, Op};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// One ok read with its bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBounds {
    /// Index of the read op.
    pub read: u64,
    pub value: i64,
    pub lower: i64,
    pub upper: i64,
    /// Increments certainly applied before the read (their `index`es).
    pub certain: Vec<u64>,
    /// A final read (one replica's own state).
    pub is_final: bool,
}

fn int_of(h: &History, op: &Op, what: &str) -> Result<i64, CheckError> {
    op.value.as_i64().ok_or_else(|| CheckError::Input {
        source_name: h.source.clone(),
        line: op.line(),
        message: format!("a counter {what} must be an integer, found {}", op.value),
    })
}

/// The bounds of every ok read, in invocation order.
pub fn read_bounds(h: &History, initial: i64) -> Result<Vec<ReadBounds>, CheckError> {
    let mut incs = Vec::new();
    for o in h.ops_with_f("increment").filter(|o| o.may_have_happened()) {
        incs.push((o, int_of(h, o, "increment")?));
    }
    let mut out = Vec::new();
    for r in h.ops_with_f("read").filter(|o| o.is_ok()) {
        let value = int_of(h, r, "read")?;
        let r_end = r.complete_pos().unwrap_or(usize::MAX);
        let (mut lower, mut upper) = (initial, initial);
        let mut certain = Vec::new();
        for (inc, d) in &incs {
            if inc.is_ok() && inc.precedes(r) {
                lower += d;
                upper += d;
                certain.push(inc.index);
            } else if inc.invoke_pos() < r_end {
                lower += d.min(&0);
                upper += d.max(&0);
            }
        }
        out.push(ReadBounds {
            read: r.index,
            value,
            lower,
            upper,
            certain,
            is_final: r.is_final(),
        });
    }
    Ok(out)
}

/// Reads below their lower or above their upper bound (types `counter-out-of-bounds`,
/// `counter-too-high`, `lost-increment`, see the module doc).
pub fn counter_out_of_bounds_cases(bounds: &[ReadBounds]) -> Vec<Anomaly> {
    // Of the final reads, only the highest is held to the lower bound.
    let best_final = bounds
        .iter()
        .filter(|b| b.is_final)
        .max_by_key(|b| (b.value, std::cmp::Reverse(b.read)))
        .map(|b| b.read);
    bounds
        .iter()
        .filter(|b| {
            let low = b.value < b.lower && (!b.is_final || Some(b.read) == best_final);
            low || b.value > b.upper
        })
        .map(|b| {
            let mut ops = vec![b.read];
            let text = if b.value < b.lower {
                let shown: Vec<u64> = b.certain.iter().rev().take(5).copied().collect();
                ops.extend(&shown);
                format!(
                    "op {} read {}, but increments acknowledged before it began already bring the counter to at least {} ({} of them, e.g. ops {:?}): {}",
                    b.read, b.value, b.lower, b.certain.len(), shown,
                    if b.is_final { "acknowledged increments were lost." } else { "the read missed acknowledged increments." }
                )
            } else {
                format!(
                    "op {} read {}, but even if every increment invoked before it completed had been applied, the counter could be at most {}.",
                    b.read, b.value, b.upper
                )
            };
            let text = if b.is_final && b.value < b.lower {
                format!("{text} It is the highest of the final reads: no replica has them.")
            } else {
                text
            };
            let kind = match (b.value > b.upper, b.is_final) {
                (true, _) => "counter-too-high",
                (false, true) => "lost-increment",
                (false, false) => "counter-out-of-bounds",
            };
            Anomaly::new(kind, ops, text)
                .with_data("value", json!(b.value))
                .with_data("lower", json!(b.lower))
                .with_data("upper", json!(b.upper))
        })
        .collect()
}

pub struct CounterAnalysis;

impl Analysis for CounterAnalysis {
    fn name(&self) -> &'static str {
        "counter"
    }
    fn detects(&self) -> &'static [&'static str] {
        &[
            "counter-out-of-bounds",
            "counter-too-high",
            "lost-increment",
        ]
    }
    fn applies(&self, h: &History) -> bool {
        h.ops.iter().any(|o| o.f == "increment")
    }
    fn run(
        &self,
        h: &History,
        opts: &CheckOptions,
        _forbidden: &BTreeSet<&'static str>,
        out: &mut Findings,
    ) -> Result<(), CheckError> {
        let initial = match &opts.initial {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                CheckError::Usage(format!(
                    "--initial for a counter must be an integer, got {v}"
                ))
            })?,
        };
        let bounds = read_bounds(h, initial)?;
        if bounds.is_empty() {
            out.unknown_reasons
                .push("the counter history has no ok read: nothing to check".into());
        }
        out.extend(counter_out_of_bounds_cases(&bounds));
        out.stats
            .insert("counter".into(), json!({"reads": bounds.len()}));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::result::Verdict;

    fn verdict(lines: &[&str]) -> crate::CheckResult {
        let h = History::from_events("t", history::jsonl::parse("t", &lines.join("\n")).unwrap())
            .unwrap();
        check(
            &h,
            &CheckOptions {
                expect: vec!["counter".into()],
                ..Default::default()
            },
        )
        .unwrap()
    }

    const BASE: [&str; 4] = [
        r#"{"process":0,"type":"invoke","f":"increment","value":3}"#,
        r#"{"process":0,"type":"ok","f":"increment","value":3}"#,
        r#"{"process":1,"type":"invoke","f":"increment","value":2}"#,
        r#"{"process":2,"type":"invoke","f":"read","value":null}"#,
    ];

    #[test]
    fn too_low_is_invalid_concurrent_is_valid() {
        // The read began after +3 was acknowledged and while +2 was in flight: 3..=5.
        for (v, want) in [
            (2, Verdict::Invalid),
            (3, Verdict::Valid),
            (5, Verdict::Valid),
            (6, Verdict::Invalid),
        ] {
            let done = format!(r#"{{"process":2,"type":"ok","f":"read","value":{v}}}"#);
            let mut lines = BASE.to_vec();
            lines.push(&done);
            let r = verdict(&lines);
            assert_eq!(r.valid, want, "read {v}");
            if want == Verdict::Invalid {
                let kind = if v > 5 {
                    "counter-too-high"
                } else {
                    "counter-out-of-bounds"
                };
                let a = &r.anomalies[kind][0];
                assert_eq!(a.ops[0], 3);
                assert!(a.explanation.contains(&format!("read {v}")));
            }
        }
    }

    #[test]
    fn a_lagging_replica_in_final_reads_is_not_a_loss_unless_all_lag() {
        let mut lines = vec![
            r#"{"process":0,"type":"invoke","f":"increment","value":3}"#,
            r#"{"process":0,"type":"ok","f":"increment","value":3}"#,
            r#"{"process":1,"type":"invoke","f":"read","value":null,"phase":"final","node":"1"}"#,
            r#"{"process":1,"type":"ok","f":"read","value":3,"phase":"final","node":"1"}"#,
            r#"{"process":2,"type":"invoke","f":"read","value":null,"phase":"final","node":"2"}"#,
            r#"{"process":2,"type":"ok","f":"read","value":0,"phase":"final","node":"2"}"#,
        ];
        assert_eq!(verdict(&lines).valid, Verdict::Valid);
        lines[3] = r#"{"process":1,"type":"ok","f":"read","value":1,"phase":"final","node":"1"}"#;
        let r = verdict(&lines);
        assert_eq!(r.valid, Verdict::Invalid);
        assert!(!r.anomalies.contains_key("counter-out-of-bounds"));
        let a = &r.anomalies["lost-increment"];
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].ops[0], 2);
        assert!(
            a[0].explanation.contains("no replica"),
            "{}",
            a[0].explanation
        );
    }

    #[test]
    fn failed_increments_do_not_count_and_no_read_is_unknown() {
        let lines = [
            r#"{"process":0,"type":"invoke","f":"increment","value":3}"#,
            r#"{"process":0,"type":"fail","f":"increment","value":3}"#,
            r#"{"process":2,"type":"invoke","f":"read","value":null}"#,
            r#"{"process":2,"type":"ok","f":"read","value":3}"#,
        ];
        assert_eq!(verdict(&lines).valid, Verdict::Invalid);
        assert_eq!(verdict(&lines[..2]).valid, Verdict::Unknown);
    }
}
