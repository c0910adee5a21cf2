//! The consistency-model lattice as data: which anomalies each model forbids and which weaker
//! models it implies. Verdicts and the `not` / `also_not` boundary are derived from this table.

use std::collections::BTreeSet;

/// One consistency model.
#[derive(Debug, Clone, Copy)]
pub struct ModelDef {
    pub name: &'static str,
    /// Anomaly types this model forbids directly (it also forbids everything the models it
    /// implies forbid).
    pub forbids: &'static [&'static str],
    /// Weaker models that every history valid under this model also satisfies.
    pub implies: &'static [&'static str],
    pub summary: &'static str,
}

/// Anomalies that no model tolerates: reads of values nobody wrote, duplicated elements.
pub const ALWAYS_FORBIDDEN: &[&str] = &["garbage-read", "duplicate-elements"];

/// Anomaly types that make a verdict unknown rather than invalid (the checker could not decide).
pub const UNKNOWN_TYPES: &[&str] = &["empty-transaction-graph", "cycle-search-timeout"];

/// Aliases that expand to several models.
pub const ALIASES: &[(&str, &[&str])] = &[(
    "session",
    &[
        "read-your-writes",
        "monotonic-reads",
        "monotonic-writes",
        "writes-follow-reads",
    ],
)];

pub const MODELS: &[ModelDef] = &[
    // Session guarantees (Terry et al.), judged per key on the set of visible writes.
    ModelDef {
        name: "read-your-writes",
        forbids: &["read-your-writes"],
        implies: &[],
        summary: "a session's reads see its own acknowledged writes",
    },
    ModelDef {
        name: "monotonic-reads",
        forbids: &["monotonic-reads"],
        implies: &[],
        summary: "a session never sees fewer writes than it saw before",
    },
    ModelDef {
        name: "monotonic-writes",
        forbids: &["monotonic-writes"],
        implies: &[],
        summary: "a session's writes become visible in the order it issued them",
    },
    ModelDef {
        name: "writes-follow-reads",
        forbids: &["writes-follow-reads"],
        implies: &[],
        summary: "a write is visible only together with the writes its session had read before",
    },
    ModelDef {
        name: "pram",
        forbids: &[],
        implies: &["read-your-writes", "monotonic-reads", "monotonic-writes"],
        summary: "pipelined RAM: every session's writes are seen in session order",
    },
    ModelDef {
        name: "causal",
        forbids: &["causal-stale-read", "causal-cycle", "causal-order-conflict"],
        implies: &["pram", "writes-follow-reads"],
        summary: "causal+ (causal and convergent): reads respect session order plus reads-from, and all reads of a key agree with one order",
    },
    ModelDef {
        name: "eventual",
        forbids: &["divergence", "lost-write"],
        implies: &["convergent"],
        summary: "replicas converge once healed and no acknowledged write is lost",
    },
    ModelDef {
        name: "sequential",
        forbids: &["incompatible-order"],
        implies: &["causal"],
        summary: "one total order of operations that respects each session's order",
    },
    ModelDef {
        name: "linearizable",
        forbids: &["nonlinearizable"],
        implies: &["sequential"],
        summary: "every operation takes effect at one instant between its invocation and completion",
    },
    // Transactional isolation (Adya, Cerone et al., Elle).
    ModelDef {
        name: "read-uncommitted",
        forbids: &["G0"],
        implies: &[],
        summary: "no write cycles (G0)",
    },
    ModelDef {
        name: "read-committed",
        forbids: &["G1a", "G1b", "G1c"],
        implies: &["read-uncommitted"],
        summary: "no aborted or intermediate reads, no cycles of write and read dependencies",
    },
    ModelDef {
        name: "monotonic-atomic-view",
        forbids: &[],
        implies: &["read-committed"],
        summary: "once a transaction sees one of another's writes it sees all of them",
    },
    ModelDef {
        name: "read-atomic",
        forbids: &[],
        implies: &["monotonic-atomic-view"],
        summary: "no fractured reads",
    },
    ModelDef {
        name: "consistent-view",
        forbids: &["G-single"],
        implies: &["monotonic-atomic-view"],
        summary: "PL-2+: no cycles with exactly one anti-dependency",
    },
    ModelDef {
        name: "causal-cerone",
        forbids: &["G1c-process"],
        implies: &["read-atomic"],
        summary: "transactional causal consistency (Cerone et al.)",
    },
    ModelDef {
        name: "parallel-snapshot-isolation",
        forbids: &["G-single-process"],
        implies: &["causal-cerone"],
        summary: "PSI: causal, no conflicting concurrent writers",
    },
    ModelDef {
        name: "repeatable-read",
        forbids: &["G2-item"],
        implies: &["read-committed"],
        summary: "PL-2.99: no item anti-dependency cycles",
    },
    ModelDef {
        name: "snapshot-isolation",
        forbids: &["G-single", "G-nonadjacent", "lost-update"],
        implies: &["consistent-view", "parallel-snapshot-isolation"],
        summary: "every transaction reads a snapshot; no write-write conflicts commit",
    },
    ModelDef {
        name: "serializable",
        forbids: &["G2-item", "G-single", "G-nonadjacent", "G-single-item", "G-nonadjacent-item", "incompatible-order", "lost-update", "internal", "dirty-update", "cyclic-versions"],
        implies: &["repeatable-read", "snapshot-isolation"],
        summary: "equivalent to some serial order of the committed transactions",
    },
    ModelDef {
        name: "strong-session-snapshot-isolation",
        forbids: &["G-single-process", "G-nonadjacent-process"],
        implies: &["snapshot-isolation"],
        summary: "snapshot isolation that respects each session's order",
    },
    ModelDef {
        name: "strong-snapshot-isolation",
        forbids: &["G-single-realtime", "G-nonadjacent-realtime"],
        implies: &["strong-session-snapshot-isolation"],
        summary: "snapshot isolation that respects real-time order",
    },
    ModelDef {
        name: "strong-session-serializable",
        forbids: &["G0-process", "G1c-process", "G-single-process", "G-nonadjacent-process", "G2-item-process"],
        implies: &["serializable", "strong-session-snapshot-isolation"],
        summary: "serializable, respecting each session's order",
    },
    ModelDef {
        name: "strict-serializable",
        forbids: &["G0-realtime", "G1c-realtime", "G-single-realtime", "G-nonadjacent-realtime", "G2-item-realtime"],
        implies: &["strong-session-serializable", "strong-snapshot-isolation"],
        summary: "serializable, respecting real-time order",
    },
    // What an eventually consistent store promises and nothing more (`eventual` also forbids
    // lost writes).
    ModelDef {
        name: "convergent",
        forbids: &["divergence"],
        implies: &[],
        summary: "replicas agree once healed and quiet",
    },
    // Data-type workloads: set, counter, bank.
    ModelDef {
        name: "set",
        forbids: &["lost-element"],
        implies: &[],
        summary: "every acknowledged add is present in the final reads",
    },
    ModelDef {
        name: "set-full",
        forbids: &["stale-element"],
        implies: &["set"],
        summary: "an acknowledged add is visible to every read that begins after it",
    },
    ModelDef {
        name: "counter",
        forbids: &["counter-out-of-bounds"],
        implies: &[],
        summary: "every read lies between the increments certainly applied and those attempted",
    },
    ModelDef {
        name: "bank",
        forbids: &["wrong-total", "negative-balance"],
        implies: &[],
        summary: "transfers conserve the total and no balance goes negative",
    },
];

/// The definition of a model by name.
pub fn model(name: &str) -> Option<&'static ModelDef> {
    MODELS.iter().find(|m| m.name == name)
}

/// Expands aliases and validates names; the error names the unknown model and lists the known.
pub fn resolve(names: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let n = n.trim();
        if n.is_empty() {
            continue;
        }
        if let Some((_, expands)) = ALIASES.iter().find(|(a, _)| *a == n) {
            for e in *expands {
                if !out.iter().any(|o| o == e) {
                    out.push(e.to_string());
                }
            }
        } else if model(n).is_some() {
            if !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        } else {
            let known: Vec<&str> = ALIASES
                .iter()
                .map(|a| a.0)
                .chain(MODELS.iter().map(|m| m.name))
                .collect();
            return Err(format!(
                "unknown consistency model {n:?}; known models: {}",
                known.join(", ")
            ));
        }
    }
    Ok(out)
}

/// Every model `name` implies, itself included (transitively).
pub fn implied(name: &str) -> BTreeSet<&'static str> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![name];
    while let Some(n) = stack.pop() {
        if let Some(m) = model(n) {
            if seen.insert(m.name) {
                stack.extend(m.implies.iter().copied());
            }
        }
    }
    seen
}

/// All anomaly types `name` forbids, through everything it implies.
pub fn forbidden(name: &str) -> BTreeSet<&'static str> {
    let mut out: BTreeSet<&'static str> = ALWAYS_FORBIDDEN.iter().copied().collect();
    for m in implied(name) {
        if let Some(def) = model(m) {
            out.extend(def.forbids.iter().copied());
        }
    }
    out
}

/// Given the anomaly types found, the weakest violated models (`not`) and every stronger model
/// that falls with them (`also_not`), both sorted.
pub fn boundary<'a>(found: impl IntoIterator<Item = &'a str>) -> (Vec<String>, Vec<String>) {
    let found: BTreeSet<&str> = found.into_iter().collect();
    let violated: BTreeSet<&'static str> = MODELS
        .iter()
        .filter(|m| {
            m.forbids.iter().any(|a| found.contains(a))
                || ALWAYS_FORBIDDEN.iter().any(|a| found.contains(a))
        })
        .map(|m| m.name)
        .collect();
    // A model is violated if it forbids a found anomaly directly or implies a violated model.
    let all_violated: BTreeSet<&'static str> = MODELS
        .iter()
        .filter(|m| implied(m.name).iter().any(|i| violated.contains(i)))
        .map(|m| m.name)
        .collect();
    let mut not = Vec::new();
    let mut also_not = Vec::new();
    for m in &all_violated {
        let weaker_violated = implied(m)
            .iter()
            .any(|i| i != m && all_violated.contains(i));
        if weaker_violated {
            also_not.push(m.to_string());
        } else {
            not.push(m.to_string());
        }
    }
    (not, also_not)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_implied_model_exists() {
        for m in MODELS {
            for i in m.implies {
                assert!(model(i).is_some(), "{} implies unknown {}", m.name, i);
            }
        }
    }

    #[test]
    fn session_alias_and_boundary() {
        let r = resolve(&["session".into(), "causal".into()]).unwrap();
        assert_eq!(r.len(), 5);
        assert!(resolve(&["bogus".into()]).is_err());
        let (not, also) = boundary(["monotonic-reads"]);
        assert_eq!(not, vec!["monotonic-reads"]);
        assert!(also.contains(&"causal".to_string()));
        assert!(also.contains(&"pram".to_string()));
        assert!(!also.contains(&"read-your-writes".to_string()));
    }

    #[test]
    fn divergence_breaks_convergent_first_and_eventual_with_it() {
        let (not, also) = boundary(["divergence"]);
        assert_eq!(not, vec!["convergent"]);
        assert!(also.contains(&"eventual".to_string()));
        let (not, _) = boundary(["lost-write"]);
        assert_eq!(not, vec!["eventual"]);
    }

    #[test]
    fn strict_serializable_forbids_g0() {
        assert!(forbidden("strict-serializable").contains("G0"));
        assert!(forbidden("causal").contains("read-your-writes"));
        assert!(!forbidden("causal").contains("incompatible-order"));
    }
}
