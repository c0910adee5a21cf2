//! The validated configuration of a run: seeds, paths, endpoints and the default expectations
//! resolved from the command line. Written to `config.json` in the run directory together with
//! a command line that repeats the run.

use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use workloads::etcd::EtcdReads;
use workloads::Workload;

/// Which store is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Builtin,
    Etcd,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    pub target: TargetKind,
    /// Built-in store mode: strong, causal, session or eventual.
    pub mode: String,
    pub nodes: usize,
    #[serde(serialize_with = "ser_workload")]
    pub workload: Workload,
    /// Models the history must satisfy (defaults resolved).
    pub expect: Vec<String>,
    pub concurrency: usize,
    /// Total operations per second; 0 means as fast as the store answers.
    pub rate: f64,
    #[serde(serialize_with = "ser_secs")]
    pub time_limit: Duration,
    pub seed: u64,
    pub store: PathBuf,
    pub name: String,
    #[serde(serialize_with = "ser_reads")]
    pub etcd_reads: EtcdReads,
    pub etcd_endpoints: Vec<String>,
    /// Requests that take longer are recorded `info`.
    #[serde(serialize_with = "ser_secs")]
    pub op_timeout: Duration,
    /// Quiet period before the final reads, so asynchronous replication can catch up.
    #[serde(serialize_with = "ser_secs")]
    pub settle: Duration,
    /// Search budget for the checkers.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_secs"
    )]
    pub check_time_limit: Option<Duration>,
    /// Nemesis and network options.
    pub faults: super::faults::FaultsConfig,
}

fn ser_workload<S: serde::Serializer>(w: &Workload, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(w.name())
}
fn ser_reads<S: serde::Serializer>(r: &EtcdReads, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.name())
}
fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
fn ser_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl RunConfig {
    /// The command line that repeats this run (same seed, same operation sequence).
    pub fn rerun_command(&self) -> String {
        let mut a = vec![
            "faultline run".to_string(),
            format!(
                "--target {}",
                match self.target {
                    TargetKind::Builtin => "builtin",
                    TargetKind::Etcd => "etcd",
                }
            ),
        ];
        if self.target == TargetKind::Builtin {
            a.push(format!("--mode {}", self.mode));
        } else {
            a.push(format!("--etcd-reads {}", self.etcd_reads.name()));
            if !self.etcd_endpoints.is_empty() {
                a.push(format!(
                    "--etcd-endpoints {}",
                    self.etcd_endpoints.join(",")
                ));
            }
        }
        a.push(format!("--nodes {}", self.nodes));
        a.push(format!("--workload {}", self.workload.name()));
        a.push(format!("--expect {}", self.expect.join(",")));
        a.push(format!("--concurrency {}", self.concurrency));
        a.push(format!("--rate {}", self.rate));
        a.push(format!("--time-limit {}", self.time_limit.as_secs_f64()));
        a.push(format!("--seed {}", self.seed));
        a.push(format!("--name {}", self.name));
        a.join(" ") + &self.faults.rerun_args()
    }
}

/// What a workload on a target and mode promises when the user does not say (`--expect`).
pub fn default_expect(
    target: TargetKind,
    mode: &str,
    workload: Workload,
    reads: EtcdReads,
) -> Vec<&'static str> {
    use Workload::*;
    let strong = match target {
        TargetKind::Builtin => mode == "strong",
        TargetKind::Etcd => reads == EtcdReads::Linearizable,
    };
    // `eventual` promises convergence and nothing else: its list appends and set adds are
    // last-writer-wins read-modify-writes, so concurrent appends, adds and increments may be
    // lost even without faults (docs/node-api.md).
    if target == TargetKind::Builtin && mode == "eventual" {
        return vec!["convergent"];
    }
    // Bank transfers commit with cas preconditions on both balances. `strong` and `session`
    // apply every write serially at the fixed primary (replicas serve prefixes of its log), so
    // the preconditions hold atomically and every read is a state the primary went through.
    // `causal` replicas check the preconditions against their own state and order concurrent
    // writes per key, so concurrent transfers make or lose money: it promises nothing a bank
    // history can judge beyond convergence.
    if (target, workload, mode) == (TargetKind::Builtin, Bank, "causal") {
        return vec!["convergent"];
    }
    match (workload, target, strong) {
        // The read bounds assume every read sees every increment acknowledged before it.
        (Counter, _, true) => vec!["counter"],
        // Session and causal replicas serve reads from their own, possibly lagging, state, but
        // keep every acknowledged increment (appends at the primary, or causally delivered
        // appends that are never overwritten) and converge after healing.
        (Counter, TargetKind::Builtin, false) => vec!["counter-durable"],
        (Counter, TargetKind::Etcd, false) => vec!["eventual"],
        (Bank, _, _) => vec!["bank"],
        (Set, _, true) => vec!["set-full"],
        (Set, _, false) => vec!["set"],
        (Register, _, true) => vec!["linearizable"],
        (ListAppend | RwRegister, _, true) => vec!["strict-serializable"],
        (Register, TargetKind::Etcd, false) => vec!["sequential"],
        (ListAppend | RwRegister, TargetKind::Etcd, false) => vec!["serializable"],
        (_, TargetKind::Builtin, false) => match mode {
            "causal" => vec!["causal"],
            _ => vec!["read-your-writes", "monotonic-reads"],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_promise() {
        let b = TargetKind::Builtin;
        let lin = EtcdReads::Linearizable;
        assert_eq!(
            default_expect(b, "strong", Workload::ListAppend, lin),
            ["strict-serializable"]
        );
        assert_eq!(
            default_expect(b, "session", Workload::Register, lin),
            ["read-your-writes", "monotonic-reads"]
        );
        assert_eq!(
            default_expect(
                TargetKind::Etcd,
                "",
                Workload::Register,
                EtcdReads::Serializable
            ),
            ["sequential"]
        );
        assert_eq!(
            default_expect(b, "strong", Workload::Counter, lin),
            ["counter"]
        );
        for mode in ["causal", "session"] {
            assert_eq!(
                default_expect(b, mode, Workload::Counter, lin),
                ["counter-durable"]
            );
        }
        assert_eq!(
            default_expect(b, "eventual", Workload::Counter, lin),
            ["convergent"]
        );
        for mode in ["strong", "session"] {
            assert_eq!(default_expect(b, mode, Workload::Bank, lin), ["bank"]);
        }
        for mode in ["causal", "eventual"] {
            assert_eq!(default_expect(b, mode, Workload::Bank, lin), ["convergent"]);
        }
        // Every default is a model the lattice knows.
        for &w in Workload::ALL {
            for mode in ["strong", "causal", "session", "eventual"] {
                for reads in [EtcdReads::Linearizable, EtcdReads::Serializable] {
                    for t in [TargetKind::Builtin, TargetKind::Etcd] {
                        let e: Vec<String> = default_expect(t, mode, w, reads)
                            .iter()
                            .map(|s| s.to_string())
                            .collect();
                        assert!(checkers::models::resolve(&e).is_ok(), "{e:?}");
                    }
                }
            }
        }
    }
}
