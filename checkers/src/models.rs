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
    // Transactional isolation (Adya, Cerone et al., Elle's consistency_model.clj). Each model
    // lists what it adds over the models it implies. Our micro-ops have no predicate reads, so
    // every anti-dependency is an item anti-dependency: the cycle checker reports the `-item`
    // forms (`G-single-item`, `G-nonadjacent-item`), and a model that forbids `G-single` or
    // `G-nonadjacent` forbids their item forms too. A `-process` anomaly implies its
    // `-realtime` form (processes are single-threaded), so models that forbid `-realtime`
    // types also forbid the `-process` ones (through the strong-session models they imply).
    ModelDef {
        name: "read-uncommitted",
        forbids: &["G0", "cyclic-versions"],
        implies: &[],
        summary: "PL-1: no write cycles (G0); every key has one version order",
    },
    ModelDef {
        name: "read-committed",
        forbids: &["G1a", "G1b", "G1c", "dirty-update", "incompatible-order", "future-read"],
        implies: &["read-uncommitted"],
        summary: "PL-2: no aborted or intermediate reads, no cycles of write and read dependencies",
    },
    ModelDef {
        name: "monotonic-atomic-view",
        forbids: &[],
        implies: &["read-committed"],
        summary: "once a transaction sees one of another's writes it sees all of them",
    },
    ModelDef {
        name: "read-atomic",
        forbids: &["internal"],
        implies: &["monotonic-atomic-view"],
        summary: "no fractured reads; transactions agree with their own reads and writes",
    },
    ModelDef {
        name: "causal-cerone",
        forbids: &[],
        implies: &["read-atomic"],
        summary: "transactional causal consistency (Cerone et al.)",
    },
    ModelDef {
        name: "parallel-snapshot-isolation",
        forbids: &[],
        implies: &["causal-cerone"],
        summary: "PSI: causal, no conflicting concurrent writers",
    },
    ModelDef {
        name: "consistent-view",
        forbids: &["G-single", "G-single-item"],
        implies: &["read-committed"],
        summary: "PL-2+: no cycles with exactly one anti-dependency",
    },
    ModelDef {
        name: "repeatable-read",
        forbids: &["G2-item", "G-single-item", "G-nonadjacent-item", "lost-update"],
        implies: &["read-committed", "monotonic-atomic-view"],
        summary: "PL-2.99: no cycles of item dependencies and anti-dependencies",
    },
    ModelDef {
        name: "snapshot-isolation",
        forbids: &["G-single", "G-single-item", "lost-update"],
        implies: &["consistent-view", "monotonic-atomic-view", "parallel-snapshot-isolation"],
        summary: "every transaction reads a snapshot; no write-write conflicts commit",
    },
    ModelDef {
        name: "serializable",
        forbids: &["G-nonadjacent", "G-nonadjacent-item", "G2-item"],
        implies: &["repeatable-read", "snapshot-isolation"],
        summary: "PL-3: equivalent to some serial order of the committed transactions",
    },
    ModelDef {
        name: "strong-session-snapshot-isolation",
        forbids: &[
            "G0-process",
            "G1c-process",
            "G-single-process",
            "G-single-item-process",
            "G-nonadjacent",
            "G-nonadjacent-item",
            "G-nonadjacent-process",
            "G-nonadjacent-item-process",
        ],
        implies: &["snapshot-isolation", "pram", "writes-follow-reads"],
        summary: "snapshot isolation in which each transaction sees its session's earlier ones",
    },
    ModelDef {
        name: "strong-snapshot-isolation",
        forbids: &[
            "G0-realtime",
            "G1c-realtime",
            "G-single-realtime",
            "G-single-item-realtime",
            "G-nonadjacent-realtime",
            "G-nonadjacent-item-realtime",
        ],
        implies: &["strong-session-snapshot-isolation"],
        summary: "snapshot isolation in which each transaction sees all that completed before it began",
    },
    ModelDef {
        name: "strong-session-serializable",
        forbids: &["G2-item-process"],
        implies: &["serializable", "strong-session-snapshot-isolation", "sequential"],
        summary: "serializable in an order that respects each session's order",
    },
    ModelDef {
        name: "strict-serializable",
        forbids: &["G2-item-realtime"],
        implies: &["strong-session-serializable", "strong-snapshot-isolation", "linearizable"],
        summary: "serializable in an order that respects real-time order",
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
        implies: &["counter-durable"],
        summary: "every read lies between the increments certainly applied and those attempted",
    },
    ModelDef {
        name: "counter-durable",
        forbids: &["counter-too-high", "lost-increment"],
        implies: &[],
        summary: "no read counts increments nobody attempted, and after healing some replica has every acknowledged increment",
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

    #[test]
    fn transactional_lattice_matches_elle() {
        // Read skew: the weakest models it breaks, as Elle reports them.
        let (not, also) = boundary(["G-single-item"]);
        assert_eq!(not, vec!["consistent-view", "repeatable-read"]);
        for m in ["snapshot-isolation", "serializable", "strict-serializable"] {
            assert!(also.contains(&m.to_string()), "{m}");
        }
        assert!(!also.contains(&"read-committed".to_string()));
        // Write skew breaks serializability but not snapshot isolation.
        let (not, also) = boundary(["G2-item"]);
        assert_eq!(not, vec!["repeatable-read"]);
        assert!(also.contains(&"serializable".to_string()));
        assert!(!also.contains(&"snapshot-isolation".to_string()));
        // A stale read (real-time) breaks only the strong models.
        let (not, _) = boundary(["G-single-item-realtime"]);
        assert_eq!(not, vec!["strong-snapshot-isolation"]);
        // Session order cycles: strong session models, not plain serializable.
        let (not, also) = boundary(["G0-process"]);
        assert_eq!(not, vec!["strong-session-snapshot-isolation"]);
        assert!(also.contains(&"strict-serializable".to_string()));
        assert!(!also.contains(&"serializable".to_string()));
        assert!(forbidden("strict-serializable").contains("G2-item-process"));
        assert!(forbidden("serializable").contains("G-single-item"));
        assert!(!forbidden("snapshot-isolation").contains("G2-item"));
        assert!(!forbidden("snapshot-isolation").contains("G-nonadjacent-item"));
        assert!(forbidden("read-committed").contains("G1b"));
        assert!(!forbidden("read-committed").contains("G-single-item"));
    }

    #[test]
    fn session_guarantees_are_wired_into_the_transactional_models() {
        // Strong session SI sees its session's earlier transactions: session guarantees hold.
        let strong = implied("strong-session-snapshot-isolation");
        for m in [
            "read-your-writes",
            "monotonic-reads",
            "monotonic-writes",
            "writes-follow-reads",
        ] {
            assert!(strong.contains(m), "{m}");
        }
        assert!(implied("strong-session-serializable").contains("sequential"));
        assert!(implied("strict-serializable").contains("linearizable"));
        // Plain serializability may reorder a session: no session guarantee follows.
        assert!(!implied("serializable").contains("read-your-writes"));
        let (_, also) = boundary(["read-your-writes"]);
        assert!(also.contains(&"strong-session-serializable".to_string()));
        assert!(!also.contains(&"serializable".to_string()));
    }
}
