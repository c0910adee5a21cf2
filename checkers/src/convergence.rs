//! Convergence of eventually consistent replicas, from the final reads of a list-append
//! history (`"phase": "final"`, taken after faults were healed and the system settled, each
//! with the `node` that served it):
//!
//! - `divergence`: the last final reads of one key on two nodes return different lists.
//! - `lost-write`: an acknowledged append that no final read of its key contains.
//!
//! And the number operators ask for: the inconsistency window of each acknowledged append,
//! the time from its acknowledgement until every later read of its key includes it (measured to
//! the invocation of the last later read that still lacked it; 0 if none did).

use crate::anomaly::Anomaly;
use crate::appends::{AppendIndex, IntMap};
use crate::session::Marks;
use history::Outcome;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Final reads (indexes into `reads`) per key, in operation order.
fn final_reads_by_key(ix: &AppendIndex) -> BTreeMap<u32, Vec<u32>> {
    let mut m: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (ri, r) in ix.reads.iter().enumerate() {
        if ix.h.ops[r.op as usize].is_final() {
            m.entry(r.key).or_default().push(ri as u32);
        }
    }
    m
}

/// `divergence`: one anomaly per key whose nodes' last final reads disagree.
pub fn divergence_cases(ix: &AppendIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for (key, reads) in final_reads_by_key(ix) {
        // node -> its last final read of the key
        let mut last: BTreeMap<&str, u32> = BTreeMap::new();
        for &ri in &reads {
            if let Some(node) = ix.h.ops[ix.reads[ri as usize].op as usize].node.as_deref() {
                last.insert(node, ri);
            }
        }
        let mut it = last.iter();
        let Some((&n0, &r0)) = it.next() else {
            continue;
        };
        let a = &ix.reads[r0 as usize];
        if let Some((&n1, &r1)) =
            it.find(|(_, &ri)| ix.elems(&ix.reads[ri as usize]) != ix.elems(a))
        {
            let b = &ix.reads[r1 as usize];
            let k = ix.show_key(key);
            out.push(
                Anomaly::new(
                    "divergence",
                    vec![ix.index(a.op), ix.index(b.op)],
                    format!(
                        "in the final phase, node {n0} read {k} as {} (op {}) and node {n1} read {k} as {} (op {}): the replicas disagree",
                        ix.show_list(ix.elems(a)),
                        ix.index(a.op),
                        ix.show_list(ix.elems(b)),
                        ix.index(b.op)
                    ),
                )
                .with_key(ix.key_json(key))
                .with_data("nodes", json!([n0, n1])),
            );
        }
    }
    out
}

/// `lost-write`: an acknowledged append that no final read of its key contains. Keys without
/// any final read are not judged here (see [`unjudged_keys`]).
pub fn lost_write_cases(ix: &AppendIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut marks = Marks::new(ix.appends.len());
    for (key, reads) in final_reads_by_key(ix) {
        marks.set(&[]);
        for &ri in &reads {
            for &e in ix.elems(&ix.reads[ri as usize]) {
                marks.set_one(e);
            }
        }
        let last = &ix.reads[*reads.last().unwrap_or(&0) as usize];
        let k = ix.show_key(key);
        for &e in &ix.key_appends[key as usize] {
            let w = ix.appends[e as usize].op;
            if ix.h.ops[w as usize].outcome != Outcome::Ok || marks.has(e) {
                continue;
            }
            let x = ix.show_elem(e);
            out.push(
                Anomaly::new(
                    "lost-write",
                    vec![ix.index(w), ix.index(last.op)],
                    format!(
                        "process {} appended {x} to {k} (op {}, ok), but none of the {} final reads of {k} contains {x}; the last, op {}, read {k} as {}",
                        ix.process(w),
                        ix.index(w),
                        reads.len(),
                        ix.index(last.op),
                        ix.show_list(ix.elems(last))
                    ),
                )
                .with_key(ix.key_json(key))
                .with_data("element", ix.vals.value(ix.appends[e as usize].value).clone()),
            );
        }
    }
    out
}

/// Reasons the convergence check could not judge everything: no final reads at all, or keys
/// with acknowledged appends that no final read covers.
pub fn unjudged_keys(ix: &AppendIndex) -> Vec<String> {
    let finals = final_reads_by_key(ix);
    if finals.is_empty() {
        return vec![
            "the history has no completed final reads (\"phase\": \"final\"), so convergence (divergence, lost-write) could not be judged".to_string(),
        ];
    }
    let mut missing = Vec::new();
    for (k, elems) in ix.key_appends.iter().enumerate() {
        let acked = elems
            .iter()
            .any(|&e| ix.h.ops[ix.appends[e as usize].op as usize].outcome == Outcome::Ok);
        if acked && !finals.contains_key(&(k as u32)) {
            missing.push(ix.show_key(k as u32));
        }
    }
    if missing.is_empty() {
        return Vec::new();
    }
    let shown: Vec<String> = missing.iter().take(5).cloned().collect();
    vec![format!(
        "{} keys with acknowledged appends have no final read ({}{}), so whether their writes were lost could not be judged",
        missing.len(),
        shown.join(", "),
        if missing.len() > 5 { ", ..." } else { "" }
    )]
}

/// Inconsistency windows (nanoseconds) of acknowledged appends that have a later read of their
/// key, with `time` on both; `None` if the history has no times.
pub fn inconsistency_windows(ix: &AppendIndex) -> Option<Vec<i64>> {
    let h = ix.h;
    let mut by_key: IntMap<u32, Vec<u32>> = IntMap::default();
    for (ri, r) in ix.reads.iter().enumerate() {
        if h.ops[r.op as usize].invoke_time.is_some() {
            by_key.entry(r.key).or_default().push(ri as u32);
        }
    }
    let mut any_time = false;
    let mut windows = Vec::new();
    let mut marks = Marks::new(ix.appends.len());
    let mut last_lacking = vec![u32::MAX; ix.appends.len()];
    let mut keys: Vec<&u32> = by_key.keys().collect();
    keys.sort_unstable();
    for &key in keys {
        let reads = &by_key[&key];
        let mut unresolved: Vec<u32> = ix.key_appends[key as usize]
            .iter()
            .copied()
            .filter(|&e| h.ops[ix.appends[e as usize].op as usize].outcome == Outcome::Ok)
            .collect();
        for &ri in reads.iter().rev() {
            if unresolved.is_empty() {
                break;
            }
            marks.set(ix.elems(&ix.reads[ri as usize]));
            unresolved.retain(|&e| {
                if marks.has(e) {
                    true
                } else {
                    last_lacking[e as usize] = ri;
                    false
                }
            });
        }
        let last_read = &h.ops[ix.reads[*reads.last().unwrap_or(&0) as usize].op as usize];
        for &e in &ix.key_appends[key as usize] {
            let w = &h.ops[ix.appends[e as usize].op as usize];
            let (Outcome::Ok, Some(ack), Some(ack_pos)) =
                (w.outcome, w.complete_time, w.complete_pos())
            else {
                continue;
            };
            any_time = true;
            if last_read.invoke_pos() < ack_pos {
                continue; // no read after the acknowledgement: nothing to measure
            }
            let lacking = last_lacking[e as usize];
            let window = if lacking == u32::MAX {
                0
            } else {
                let r = &h.ops[ix.reads[lacking as usize].op as usize];
                match r.invoke_time {
                    Some(t) if r.invoke_pos() > ack_pos => (t - ack).max(0),
                    _ => 0,
                }
            };
            windows.push(window);
        }
    }
    any_time.then_some(windows)
}

/// count, p50, p95, p99 and max (nearest rank) of the windows.
pub fn window_stats(mut w: Vec<i64>) -> Value {
    w.sort_unstable();
    let n = w.len();
    let pct = |p: f64| -> Value {
        if n == 0 {
            return Value::Null;
        }
        let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
        Value::from(w[rank.min(n) - 1])
    };
    let mut m = Map::new();
    m.insert("count".into(), Value::from(n));
    m.insert("p50".into(), pct(50.0));
    m.insert("p95".into(), pct(95.0));
    m.insert("p99".into(), pct(99.0));
    m.insert(
        "max".into(),
        w.last().map_or(Value::Null, |&x| Value::from(x)),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appends::notation::hist;

    fn ix_of(h: &history::History) -> AppendIndex<'_> {
        AppendIndex::build(h).unwrap()
    }

    #[test]
    fn divergence() {
        let h = hist(
            "0 ok append x 1; 1 ok append x 2; 2 ok @n1 final r x [1 2]; 3 ok @n2 final r x [2 1]",
        );
        let d = divergence_cases(&ix_of(&h));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].ops, vec![4, 6]);
        assert_eq!(
            d[0].explanation,
            "in the final phase, node n1 read x as [1 2] (op 4) and node n2 read x as [2 1] (op 6): the replicas disagree"
        );
        // Nearest valid: an earlier final read on n2 differed, but its last one agrees.
        let h = hist("0 ok append x 1; 1 ok append x 2; 3 ok @n2 final r x [1]; 2 ok @n1 final r x [1 2]; 3 ok @n2 final r x [1 2]");
        assert!(divergence_cases(&ix_of(&h)).is_empty());
    }

    #[test]
    fn lost_write() {
        let h = hist("0 ok append x 1; 1 ok append x 2; 4 info append x 3; 5 fail append x 4; 2 ok @n1 final r x [1]; 3 ok @n2 final r x [1]");
        let ix = ix_of(&h);
        let l = lost_write_cases(&ix);
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].ops, vec![2, 9]);
        assert!(l[0].explanation.starts_with(
            "process 1 appended 2 to x (op 2, ok), but none of the 2 final reads of x contains 2"
        ));
        assert!(unjudged_keys(&ix).is_empty());
        // Nearest valid: one final read has it.
        let h = hist("0 ok append x 1; 1 ok append x 2; 2 ok @n1 final r x [1 2]");
        assert!(lost_write_cases(&ix_of(&h)).is_empty());
    }

    #[test]
    fn unjudged_without_final_reads() {
        let h = hist("0 ok append x 1; 1 ok r x [1]");
        assert_eq!(unjudged_keys(&ix_of(&h)).len(), 1);
        let h = hist("0 ok append x 1; 0 ok append y 1; 2 ok @n1 final r x [1]");
        let u = unjudged_keys(&ix_of(&h));
        assert!(u[0].contains("1 keys") && u[0].contains("(y)"), "{u:?}");
    }

    #[test]
    fn windows() {
        // append acked at 10; reads at 19 (lacks), 29 (has), 39 (lacks), 49 (has).
        let h = hist("0 ok t=10 append x 1; 1 ok t=20 r x []; 2 ok t=30 r x [1]; 3 ok t=40 r x []; 4 ok t=50 r x [1]");
        let w = inconsistency_windows(&ix_of(&h)).unwrap();
        assert_eq!(w, vec![29]);
        let s = window_stats(vec![5, 1, 3, 2, 4, 100, 7, 8, 9, 10]);
        assert_eq!(s["count"], 10);
        assert_eq!(s["p50"], 5);
        assert_eq!(s["p95"], 100);
        assert_eq!(s["max"], 100);
        // No times: no stats.
        let h = hist("0 ok append x 1; 1 ok r x [1]");
        assert!(inconsistency_windows(&ix_of(&h)).is_none());
    }
}
