//! The analyses for the weak models of list-append histories, as registered in
//! [`crate::check::analyses`]: session guarantees plus causal+ ([`SessionCausal`]), and
//! eventual convergence ([`Convergence`]). They share the [`AppendIndex`] and run only the
//! detectors whose anomaly types the expected models forbid.

use crate::appends::{duplicate_elements_cases, garbage_read_cases, is_list_append, AppendIndex};
use crate::causal::{self, CausalIndex};
use crate::check::{Analysis, CheckError, CheckOptions, Findings};
use crate::convergence;
use crate::session::{render, SessionIndex};
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
        let s = SessionIndex::build(&ix);
        let mut misses = Vec::new();
        for kind in SESSION_TYPES {
            if !want(kind) && !causal_wanted {
                continue;
            }
            let found = match *kind {
                "read-your-writes" => s.read_your_writes(),
                "monotonic-reads" => s.monotonic_reads(),
                "monotonic-writes" => s.monotonic_writes(),
                _ => s.writes_follow_reads(),
            };
            if want(kind) {
                out.extend(found.iter().map(|m| render(&ix, m)));
            }
            misses.extend(found);
        }
        out.stats.insert(
            "list-append".into(),
            json!({"reads": ix.reads.len(), "elements": ix.appends.len(), "keys": ix.keys.len(), "sessions": ix.lane_ops.len()}),
        );
        if !causal_wanted {
            return Ok(());
        }
        match CausalIndex::build(&ix) {
            Err(why) => out.unknown_reasons.push(why),
            Ok(c) => {
                out.extend(causal::causal_cycle_cases(&c));
                let covered = causal::covered(&misses);
                drop(misses);
                out.extend(causal::causal_stale_read_cases(&c, &s.chains, &covered));
                out.extend(causal::causal_order_conflict_cases(&c, &s.chains));
            }
        }
        Ok(())
    }
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
