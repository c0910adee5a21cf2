//! The set workload (Jepsen's set-full): `add` ops of unique elements and `read` ops that return
//! the whole set. For every element: was it lost (acknowledged, yet absent from every final
//! read), stale (absent from a read that began after its add was acknowledged, though present
//! in the end), or never read; and how long it took to become visible for good.
//!
//! Final reads (`"phase": "final"`) read each replica's own state without coordination, so
//! they count for loss (an element in no replica is lost) but not for staleness, which is
//! judged on ordinary reads only.
//!
//! Shape: [`SetView`] is the analysis as data; `*_cases` detectors turn it into anomalies.

use crate::anomaly::Anomaly;
use crate::check::{Analysis, CheckError, CheckOptions, Findings};
use history::{History, Op, OpId};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};

/// One element's story.
#[derive(Debug, Clone)]
pub struct Element {
    pub value: Value,
    /// The add op (by id in `History::ops`).
    pub add: OpId,
    /// Ok reads that began after the add was acknowledged and did not contain the element.
    pub absent_after_ack: Vec<OpId>,
    /// Whether some final read contains it.
    pub in_final: bool,
    /// Whether any read (final or not) contains it.
    pub ever_read: bool,
    /// Nanoseconds from the add's acknowledgement to the start of the first read after which
    /// every read contained it; `None` if that never happened or times are missing.
    pub latency_ns: Option<i64>,
}

/// The set analysis as data.
#[derive(Debug, Clone, Default)]
pub struct SetView {
    /// Acknowledged (ok) adds, in invocation order.
    pub elements: Vec<Element>,
    /// Ok final reads (`"phase": "final"`).
    pub final_reads: Vec<OpId>,
    /// Elements that reads returned but no add (ok or indeterminate) ever tried: (read, value).
    pub garbage: Vec<(OpId, Value)>,
    /// Reads that returned an element twice: (read, value).
    pub duplicates: Vec<(OpId, Value)>,
}

fn key_of(v: &Value) -> String {
    v.to_string()
}

fn read_elements<'a>(h: &History, op: &'a Op) -> Result<&'a Vec<Value>, CheckError> {
    op.value.as_array().ok_or_else(|| CheckError::Input {
        source_name: h.source.clone(),
        line: op.line(),
        message: format!("a set read must return a list, found {}", op.value),
    })
}

/// Builds the view from the history's `add` and `read` ops.
pub fn set_view(h: &History) -> Result<SetView, CheckError> {
    let mut view = SetView::default();
    let attempted: HashSet<String> = h
        .ops_with_f("add")
        .filter(|o| o.may_have_happened())
        .map(|o| key_of(&o.value))
        .collect();
    // Ok reads with their contents as sets, in invocation order.
    let mut reads: Vec<(OpId, HashSet<String>)> = Vec::new();
    for op in h.ops_with_f("read").filter(|o| o.is_ok()) {
        let xs = read_elements(h, op)?;
        let mut seen = HashSet::with_capacity(xs.len());
        for x in xs {
            let k = key_of(x);
            if !seen.insert(k.clone()) {
                view.duplicates.push((op.id, x.clone()));
            } else if !attempted.contains(&k) {
                view.garbage.push((op.id, x.clone()));
            }
        }
        if op.is_final() {
            view.final_reads.push(op.id);
        }
        reads.push((op.id, seen));
    }
    for add in h.ops_with_f("add").filter(|o| o.is_ok()) {
        let k = key_of(&add.value);
        let mut el = Element {
            value: add.value.clone(),
            add: add.id,
            absent_after_ack: Vec::new(),
            in_final: false,
            ever_read: false,
            latency_ns: None,
        };
        // The last read after the ack that missed it, then the first read after that with it.
        let mut last_absent: Option<usize> = None;
        for (i, (rid, set)) in reads.iter().enumerate() {
            let r = &h.ops[*rid];
            let has = set.contains(&k);
            el.ever_read |= has;
            if has && r.is_final() {
                el.in_final = true;
            }
            // Final reads show one replica's own state without coordination: they judge loss
            // (and convergence), not real-time visibility.
            if add.precedes(r) && !has && !r.is_final() {
                el.absent_after_ack.push(*rid);
                last_absent = Some(i);
            }
        }
        let start = last_absent.map_or(0, |i| i + 1);
        el.latency_ns = reads[start..]
            .iter()
            .map(|(rid, set)| (&h.ops[*rid], set))
            .find(|(r, set)| add.precedes(r) && set.contains(&k))
            .and_then(|(r, _)| Some((r.invoke_time? - add.complete_time?).max(0)));
        view.elements.push(el);
    }
    Ok(view)
}

/// Acknowledged adds absent from every final read.
pub fn lost_element_cases(h: &History, v: &SetView) -> Vec<Anomaly> {
    let Some(&fr) = v.final_reads.first() else {
        return Vec::new();
    };
    v.elements
        .iter()
        .filter(|e| !e.in_final)
        .map(|e| {
            let add = &h.ops[e.add];
            let read = &h.ops[fr];
            Anomaly::new(
                "lost-element",
                vec![add.index, read.index],
                format!(
                    "op {} added {} and was acknowledged, but none of the {} final reads contains it (e.g. op {}, a final read on node {}).",
                    add.index,
                    e.value,
                    v.final_reads.len(),
                    read.index,
                    read.node.as_deref().unwrap_or("?")
                ),
            )
            .with_data("element", e.value.clone())
        })
        .collect()
}

/// Acknowledged adds that a later-starting read missed, though they are present in the end.
pub fn stale_element_cases(h: &History, v: &SetView) -> Vec<Anomaly> {
    v.elements
        .iter()
        .filter(|e| e.in_final && !e.absent_after_ack.is_empty())
        .map(|e| {
            let add = &h.ops[e.add];
            let read = &h.ops[e.absent_after_ack[0]];
            let mut a = Anomaly::new(
                "stale-element",
                vec![add.index, read.index],
                format!(
                    "op {} added {} and was acknowledged before op {} began, yet op {} read the set without it ({} stale read{} in all); the final reads contain it.",
                    add.index,
                    e.value,
                    read.index,
                    read.index,
                    e.absent_after_ack.len(),
                    if e.absent_after_ack.len() == 1 { "" } else { "s" }
                ),
            )
            .with_data("element", e.value.clone())
            .with_data("stale_reads", Value::from(e.absent_after_ack.len()));
            if let Some(ns) = e.latency_ns {
                a = a.with_data("visibility_latency_ms", json!(ns as f64 / 1e6));
            }
            a
        })
        .collect()
}

/// Reads of elements nobody added.
pub fn garbage_read_cases(h: &History, v: &SetView) -> Vec<Anomaly> {
    v.garbage
        .iter()
        .map(|(rid, x)| {
            let r = &h.ops[*rid];
            Anomaly::new(
                "garbage-read",
                vec![r.index],
                format!(
                    "op {} read element {x}, which no add ever tried to add.",
                    r.index
                ),
            )
        })
        .collect()
}

/// Reads that contain an element twice.
pub fn duplicate_elements_cases(h: &History, v: &SetView) -> Vec<Anomaly> {
    v.duplicates
        .iter()
        .map(|(rid, x)| {
            let r = &h.ops[*rid];
            Anomaly::new(
                "duplicate-elements",
                vec![r.index],
                format!("op {} read element {x} more than once in one set.", r.index),
            )
        })
        .collect()
}

/// Counts and visibility latencies for the stats.
pub fn set_stats(v: &SetView) -> Value {
    let mut lat: Vec<i64> = v.elements.iter().filter_map(|e| e.latency_ns).collect();
    lat.sort_unstable();
    let pct = |p: f64| -> Value {
        if lat.is_empty() {
            Value::Null
        } else {
            let i = ((lat.len() - 1) as f64 * p).round() as usize;
            json!(lat[i] as f64 / 1e6)
        }
    };
    json!({
        "acknowledged": v.elements.len(),
        "lost": v.elements.iter().filter(|e| !e.in_final && !v.final_reads.is_empty()).count(),
        "stale": v.elements.iter().filter(|e| e.in_final && !e.absent_after_ack.is_empty()).count(),
        "never_read": v.elements.iter().filter(|e| !e.ever_read).count(),
        "final_reads": v.final_reads.len(),
        "visibility_latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)},
    })
}

pub struct SetAnalysis;

impl Analysis for SetAnalysis {
    fn name(&self) -> &'static str {
        "set"
    }
    fn detects(&self) -> &'static [&'static str] {
        &[
            "lost-element",
            "stale-element",
            "garbage-read",
            "duplicate-elements",
        ]
    }
    fn applies(&self, h: &History) -> bool {
        h.ops.iter().any(|o| o.f == "add")
            && h.ops
                .iter()
                .any(|o| o.f == "read" && o.is_ok() && o.value.is_array())
    }
    fn run(
        &self,
        h: &History,
        _opts: &CheckOptions,
        forbidden: &BTreeSet<&'static str>,
        out: &mut Findings,
    ) -> Result<(), CheckError> {
        let v = set_view(h)?;
        out.extend(lost_element_cases(h, &v));
        if forbidden.contains("stale-element") {
            out.extend(stale_element_cases(h, &v));
        }
        out.extend(garbage_read_cases(h, &v));
        out.extend(duplicate_elements_cases(h, &v));
        if v.final_reads.is_empty() && forbidden.contains("lost-element") {
            out.unknown_reasons.push(
                "the set history has no ok final read (\"phase\": \"final\"): lost elements cannot be judged".into(),
            );
        }
        out.stats.insert("set".into(), set_stats(&v));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::result::Verdict;

    fn hist(lines: &[&str]) -> History {
        let text = lines.join("\n");
        History::from_events("t", history::jsonl::parse("t", &text).unwrap()).unwrap()
    }

    fn run(h: &History, model: &str) -> crate::CheckResult {
        check(
            h,
            &CheckOptions {
                expect: vec![model.into()],
                ..Default::default()
            },
        )
        .unwrap()
    }

    const ADD1: [&str; 2] = [
        r#"{"process":0,"type":"invoke","f":"add","value":1,"time":0}"#,
        r#"{"process":0,"type":"ok","f":"add","value":1,"time":10}"#,
    ];

    #[test]
    fn lost_element_is_invalid_and_nearest_valid_passes() {
        let mut lines = ADD1.to_vec();
        lines.push(
            r#"{"process":1,"type":"invoke","f":"read","value":null,"phase":"final","node":"1"}"#,
        );
        lines.push(r#"{"process":1,"type":"ok","f":"read","value":[],"phase":"final","node":"1"}"#);
        let r = run(&hist(&lines), "set");
        assert_eq!(r.valid, Verdict::Invalid);
        let a = &r.anomalies["lost-element"][0];
        assert_eq!(a.ops, vec![0, 2]);
        assert!(a.explanation.contains("added 1"), "{}", a.explanation);
        // Nearest valid: the final read has the element.
        let last = lines.len() - 1;
        lines[last] =
            r#"{"process":1,"type":"ok","f":"read","value":[1],"phase":"final","node":"1"}"#;
        assert_eq!(run(&hist(&lines), "set").valid, Verdict::Valid);
    }

    #[test]
    fn stale_element_breaks_set_full_only_and_has_latency() {
        let mut lines = ADD1.to_vec();
        lines.extend([
            r#"{"process":1,"type":"invoke","f":"read","value":null,"time":20}"#,
            r#"{"process":1,"type":"ok","f":"read","value":[],"time":30}"#,
            r#"{"process":1,"type":"invoke","f":"read","value":null,"time":50}"#,
            r#"{"process":1,"type":"ok","f":"read","value":[1],"time":60}"#,
            r#"{"process":2,"type":"invoke","f":"read","value":null,"phase":"final","time":70}"#,
            r#"{"process":2,"type":"ok","f":"read","value":[1],"phase":"final","time":80}"#,
        ]);
        let h = hist(&lines);
        let r = run(&h, "set-full");
        assert_eq!(r.valid, Verdict::Invalid);
        let a = &r.anomalies["stale-element"][0];
        assert_eq!(a.ops, vec![0, 2]);
        assert_eq!(a.data["visibility_latency_ms"], json!(40e-6));
        assert_eq!(run(&h, "set").valid, Verdict::Valid);
        // Nearest valid for set-full: the read began before the add was acknowledged.
        let mut ok = lines.clone();
        ok.swap(1, 2);
        assert_eq!(run(&hist(&ok), "set-full").valid, Verdict::Valid);
    }

    #[test]
    fn a_lagging_replica_in_final_reads_is_not_stale() {
        let mut lines = ADD1.to_vec();
        lines.extend([
            r#"{"process":1,"type":"invoke","f":"read","value":null,"phase":"final","node":"1"}"#,
            r#"{"process":1,"type":"ok","f":"read","value":[1],"phase":"final","node":"1"}"#,
            r#"{"process":2,"type":"invoke","f":"read","value":null,"phase":"final","node":"2"}"#,
            r#"{"process":2,"type":"ok","f":"read","value":[],"phase":"final","node":"2"}"#,
        ]);
        assert_eq!(run(&hist(&lines), "set-full").valid, Verdict::Valid);
    }

    #[test]
    fn indeterminate_adds_may_be_missing_but_garbage_may_not() {
        let lines = [
            r#"{"process":0,"type":"invoke","f":"add","value":1}"#,
            r#"{"process":0,"type":"info","f":"add","value":1}"#,
            r#"{"process":1,"type":"invoke","f":"add","value":2}"#,
            r#"{"process":1,"type":"ok","f":"add","value":2}"#,
            r#"{"process":2,"type":"invoke","f":"read","value":null,"phase":"final"}"#,
            r#"{"process":2,"type":"ok","f":"read","value":[2],"phase":"final"}"#,
        ];
        assert_eq!(run(&hist(&lines), "set-full").valid, Verdict::Valid);
        let mut bad = lines.to_vec();
        bad[5] = r#"{"process":2,"type":"ok","f":"read","value":[2,7,2],"phase":"final"}"#;
        let r = run(&hist(&bad), "set");
        assert!(r.anomalies.contains_key("garbage-read"));
        assert!(r.anomalies.contains_key("duplicate-elements"));
    }

    #[test]
    fn no_final_read_is_unknown_and_bad_read_is_an_input_error() {
        let mut lines = ADD1.to_vec();
        lines.push(r#"{"process":1,"type":"invoke","f":"read","value":null}"#);
        lines.push(r#"{"process":1,"type":"ok","f":"read","value":[1]}"#);
        assert_eq!(run(&hist(&lines), "set").valid, Verdict::Unknown);
        let e = set_view(&hist(&[
            ADD1[0],
            ADD1[1],
            r#"{"process":1,"type":"invoke","f":"read","value":null}"#,
            r#"{"process":1,"type":"ok","f":"read","value":{"a":1}}"#,
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("t:4"), "{e}");
    }
}
