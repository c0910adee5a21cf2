//! Runs the analyses that the expected models need and derives the verdict.

use crate::anomaly::Anomaly;
use crate::models;
use crate::result::{Artifact, CheckResult, Verdict};
use history::History;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Models the history must satisfy; empty means the default for the history's shape.
    pub expect: Vec<String>,
    /// Sequential model for linearizability (`register`, `cas-register`, ...); inferred if None.
    pub model: Option<String>,
    /// Initial value of registers, if not null.
    pub initial: Option<Value>,
    /// Budget for searches (linearizability, cycle search); exceeding it yields `unknown`.
    pub time_limit: Option<Duration>,
    /// What a failed op means (`--fail-means`); None: the history's source convention
    /// ([`crate::semantics`]).
    pub fail_means: Option<crate::semantics::FailMeans>,
    /// What an `ok` read of nil means (`--nil-read`); None: the source's convention.
    pub nil_read: Option<crate::semantics::NilRead>,
}

/// A check that cannot run at all (as opposed to a verdict).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The options are wrong (unknown model, ...): a usage error.
    #[error("{0}")]
    Usage(String),
    /// The history is well-formed as events but not as data for this analysis (e.g. a txn
    /// micro-op that is not a list): bad input, with the line.
    #[error("{source_name}:{line}: invalid operation: {message}")]
    Input {
        source_name: String,
        line: usize,
        message: String,
    },
}

/// What analyses found: anomalies by type, stats, reasons for `unknown`, and artifacts.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub anomalies: BTreeMap<String, Vec<Anomaly>>,
    pub stats: Map<String, Value>,
    pub unknown_reasons: Vec<String>,
    pub artifacts: Vec<Artifact>,
    /// (type, ops, key) of every anomaly added, so that two analyses that detect the same
    /// anomaly (e.g. a garbage read) report it once.
    seen: HashSet<(String, Vec<u64>, Option<String>)>,
}

impl Findings {
    /// Records an anomaly unless the same type with the same ops and key is already recorded.
    pub fn add(&mut self, a: Anomaly) {
        let id = (
            a.kind.clone(),
            a.ops.clone(),
            a.key.as_ref().map(|k| k.to_string()),
        );
        if self.seen.insert(id) {
            self.anomalies.entry(a.kind.clone()).or_default().push(a);
        }
    }
    pub fn extend(&mut self, xs: impl IntoIterator<Item = Anomaly>) {
        for a in xs {
            self.add(a);
        }
    }
}

/// One analysis over a history. It runs when the expected models forbid one of the anomaly
/// types it `detects` and it `applies` to the history.
pub trait Analysis: Sync {
    fn name(&self) -> &'static str;
    /// Anomaly types this analysis can report.
    fn detects(&self) -> &'static [&'static str];
    /// Whether the history has operations this analysis understands.
    fn applies(&self, h: &History) -> bool;
    /// Analyses that, when they run on the same history, already decide every anomaly of this
    /// one that the user did not ask for by name: this analysis then runs only when an expected
    /// model itself (not one it implies) forbids one of its types. E.g. the isolation analysis's
    /// process and realtime cycles decide the session and causal guarantees that
    /// `strict-serializable` implies.
    fn decided_by(&self) -> &'static [&'static str] {
        &[]
    }
    /// Runs the analysis; `forbidden` is every anomaly type the expected models forbid.
    fn run(
        &self,
        h: &History,
        opts: &CheckOptions,
        forbidden: &BTreeSet<&'static str>,
        out: &mut Findings,
    ) -> Result<(), CheckError>;
}

/// Every analysis faultline knows, in the order they run.
pub fn analyses() -> Vec<&'static dyn Analysis> {
    vec![
        &crate::weak_models::SessionCausal,
        &crate::weak_models::Convergence,
        &crate::register_session::RegisterSessionCausal,
        &crate::linear::Linearizability,
        &crate::isolation::Isolation,
        &crate::set::SetAnalysis,
        &crate::counter::CounterAnalysis,
        &crate::bank::BankAnalysis,
    ]
}

/// The default models for a history's shape (documented in docs/history-format.md).
pub fn default_expect(h: &History) -> Vec<String> {
    let has = |f: &str| h.ops.iter().any(|o| o.f == f);
    if has("transfer") {
        return vec!["bank".into()];
    } else if has("increment") {
        return vec!["counter".into()];
    } else if has("add") {
        return vec!["set".into()];
    }
    // Ops only the linearizability models understand (Knossos's mutex and queues).
    if ["acquire", "release", "enqueue", "dequeue"]
        .iter()
        .any(|f| has(f))
    {
        return vec!["linearizable".into()];
    }
    if has("txn") {
        vec!["strict-serializable".into()]
    } else if has("read") || has("write") || has("cas") || has("get") || has("put") {
        vec!["linearizable".into()]
    } else {
        vec!["causal".into(), "eventual".into()]
    }
}

/// Checks a history against the expected models.
pub fn check(h: &History, opts: &CheckOptions) -> Result<CheckResult, CheckError> {
    let requested = if opts.expect.is_empty() && opts.model.is_some() {
        // `--model` names a linearizability model: that is the question asked.
        vec!["linearizable".into()]
    } else if opts.expect.is_empty() {
        default_expect(h)
    } else {
        opts.expect.clone()
    };
    let expected = models::resolve(&requested).map_err(CheckError::Usage)?;
    let mut forbidden: BTreeSet<&'static str> = BTreeSet::new();
    for m in &expected {
        forbidden.extend(models::forbidden(m));
    }
    // Anomaly types the expected models forbid themselves (not through a model they imply).
    let named: BTreeSet<&'static str> = expected
        .iter()
        .filter_map(|m| models::model(m))
        .flat_map(|m| m.forbids.iter().copied())
        .collect();
    let relevant: Vec<&'static dyn Analysis> = analyses()
        .into_iter()
        .filter(|a| a.detects().iter().any(|d| forbidden.contains(d)) && a.applies(h))
        .collect();
    let running: BTreeSet<&str> = relevant.iter().map(|a| a.name()).collect();
    let mut findings = Findings::default();
    let mut ran = Vec::new();
    for a in relevant {
        let decided_elsewhere = a.decided_by().iter().any(|d| running.contains(d))
            && !a.detects().iter().any(|d| named.contains(d));
        if decided_elsewhere {
            continue;
        }
        a.run(h, opts, &forbidden, &mut findings)?;
        ran.push(Value::from(a.name()));
    }
    findings
        .stats
        .insert("analyses".into(), Value::Array(ran.clone()));
    findings
        .stats
        .insert("ops".into(), Value::from(h.ops.len()));
    if ran.is_empty() && h.ops.is_empty() {
        findings.unknown_reasons.push(format!(
            "the history has no client operations ({} nemesis events): nothing was checked",
            h.nemesis.len()
        ));
    } else if ran.is_empty() {
        findings.unknown_reasons.push(format!(
            "no analysis applies to this history for the expected models ({}): nothing was checked",
            expected.join(", ")
        ));
    }
    Ok(finish(expected, forbidden, findings))
}

fn finish(expected: Vec<String>, forbidden: BTreeSet<&'static str>, f: Findings) -> CheckResult {
    let (not, also_not) = models::boundary(f.anomalies.keys().map(|k| k.as_str()));
    let mut unknown_reasons = f.unknown_reasons;
    let mut bad: BTreeMap<String, Vec<Anomaly>> = BTreeMap::new();
    for (kind, list) in f.anomalies {
        if models::UNKNOWN_TYPES.contains(&kind.as_str()) {
            for a in &list {
                unknown_reasons.push(a.explanation.clone());
            }
            bad.insert(kind, list);
        } else if forbidden.contains(kind.as_str()) {
            bad.insert(kind, list);
        }
    }
    let invalid = bad
        .keys()
        .any(|k| !models::UNKNOWN_TYPES.contains(&k.as_str()));
    let valid = if invalid {
        Verdict::Invalid
    } else if !unknown_reasons.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    CheckResult {
        valid,
        expected,
        anomaly_types: bad.keys().cloned().collect(),
        anomalies: bad,
        not,
        also_not,
        unknown_reasons,
        stats: f.stats,
        artifacts: f.artifacts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_is_not_valid_and_invalid_wins() {
        let mut f = Findings::default();
        f.add(Anomaly::new(
            "cycle-search-timeout",
            vec![],
            "ran out of time",
        ));
        let forb: BTreeSet<&'static str> = models::forbidden("serializable");
        let r = finish(vec!["serializable".into()], forb.clone(), f.clone());
        assert_eq!(r.valid, Verdict::Unknown);
        f.add(Anomaly::new("G0", vec![1, 2], "write cycle"));
        let r = finish(vec!["serializable".into()], forb, f);
        assert_eq!(r.valid, Verdict::Invalid);
        assert_eq!(r.not, vec!["read-uncommitted".to_string()]);
    }

    #[test]
    fn the_same_anomaly_from_two_analyses_is_reported_once() {
        let mut f = Findings::default();
        f.add(Anomaly::new(
            "garbage-read",
            vec![3],
            "read 9, which nobody wrote",
        ));
        f.add(Anomaly::new(
            "garbage-read",
            vec![3],
            "op 3 read 9 of x, never appended",
        ));
        f.add(Anomaly::new("garbage-read", vec![4], "another"));
        assert_eq!(f.anomalies["garbage-read"].len(), 2);
    }

    #[test]
    fn unknown_model_is_a_usage_error() {
        let h = History::default();
        let e = check(
            &h,
            &CheckOptions {
                expect: vec!["nope".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, CheckError::Usage(_)));
    }
}
