//! `faultline run` against real clusters: built-in nodes in every mode, a 3-node etcd cluster,
//! and a harness killed with SIGKILL mid-run.
//!
//! Every built-in mode passes what it promises under every workload with an analysis for it:
//! the verdict must be valid (exit 0); unknown fails like invalid.

use crate::util::{bin, etcd_present, faultline, is_root, prerequisite};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `faultline run` with the short timings every test here uses, then `extra`; without
/// `--json` in `extra` stdout is the summary for people; without `--nemesis` in `extra`, no
/// faults (the tests of faults are in nemeses.rs). Returns (code, stdout, stderr).
fn short_run(store: &Path, extra: &[&str]) -> (i32, String, String) {
    let store_s = store.display().to_string();
    let mut args = vec![
        "run",
        "--store",
        &store_s,
        "--time-limit",
        "1.5",
        "--settle",
        "0.5",
        "--concurrency",
        "4",
        "--rate",
        "150",
        "--seed",
        "42",
    ];
    if !extra.contains(&"--nemesis") {
        args.extend_from_slice(&["--nemesis", "none"]);
    }
    args.extend_from_slice(extra);
    faultline(&args)
}

/// Runs `faultline run --json` with short timings plus `extra`; returns (code, results, run dir).
fn run(store: &Path, extra: &[&str]) -> (i32, Value, PathBuf, String) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = short_run(store, &args);
    parse_json_run(code, &out, err)
}

/// `faultline run --json --store STORE` plus exactly `args` (no default timings or faults).
fn json_run(store: &Path, args: &[&str]) -> (i32, Value, PathBuf, String) {
    let store_s = store.display().to_string();
    let mut all = vec!["run", "--json", "--store", &store_s];
    all.extend_from_slice(args);
    let (code, out, err) = faultline(&all);
    parse_json_run(code, &out, err)
}

/// The results line of a `--json` run, and its run directory.
fn parse_json_run(code: i32, out: &str, err: String) -> (i32, Value, PathBuf, String) {
    let line = out.lines().last().unwrap_or("");
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}\nstderr: {err}"));
    let dir = PathBuf::from(v["run_dir"].as_str().expect("run_dir in --json output"));
    (code, v, dir, err)
}

/// Valid (exit 0): never unknown, never invalid.
fn assert_passes(code: i32, v: &Value, what: &str, err: &str) {
    assert!(
        code == 0 && v["valid"] == Value::Bool(true),
        "{what}: exit {code}, results {v}\nstderr:\n{err}"
    );
}

/// The history has ok ops, and final reads of every key on every node.
fn assert_history_shape(dir: &Path, nodes: &[&str]) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("history.jsonl")).expect("history.jsonl");
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("history line is JSON"))
        .collect();
    let oks = events.iter().filter(|e| e["type"] == "ok").count();
    assert!(oks > 20, "only {oks} ok ops in {}", dir.display());
    for n in nodes {
        assert!(
            events
                .iter()
                .any(|e| e["phase"] == "final" && e["type"] == "ok" && e["node"] == *n),
            "no ok final read on node {n} in {}",
            dir.display()
        );
    }
    for f in [
        "config.json",
        "results.json",
        "harness.log",
        "nodes.json",
        "junit.xml",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    // The JUnit report has one case per expected model, and agrees with results.json.
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(
        &std::fs::read_to_string(dir.join("junit.xml")).unwrap(),
    )
    .expect("junit.xml parses");
    assert_eq!(
        junit.tests,
        results["expected"].as_array().unwrap().len(),
        "{}",
        dir.display()
    );
    if results["valid"] == Value::Bool(true) {
        assert_eq!((junit.failures, junit.errors), (0, 0), "{}", dir.display());
    } else {
        assert!(junit.failures + junit.errors > 0, "{}", dir.display());
    }
    let h = history::load_file(&dir.join("history.jsonl"), None).expect("history loads");
    assert!(h.ops.iter().all(|o| o.complete_pos().is_some()));
    events
}

fn builtin_mode(mode: &str) {
    let store = tempfile::tempdir().unwrap();
    for workload in ["list-append", "register"] {
        let (code, v, dir, err) = run(store.path(), &["--mode", mode, "--workload", workload]);
        assert_passes(code, &v, &format!("builtin {mode} {workload}"), &err);
        if workload == "register" {
            // The register session/causal/convergence analysis judged it, on attributable
            // reads (unique written values).
            let analyses = v["stats"]["analyses"].as_array().unwrap();
            assert!(
                analyses.contains(&Value::from("register-session-causal")),
                "{mode}: {v}"
            );
            assert!(
                v["stats"]["register"]["reads"].as_u64().unwrap() > 20,
                "{v}"
            );
            // Without faults every failed cas is a compare mismatch, recorded as one.
            let (mismatches, other) = failed_cas_errors(&dir);
            assert!(
                mismatches > 0 && other == 0,
                "{mode}: {mismatches}, {other}"
            );
        }
        assert_history_shape(&dir, &["1", "2", "3"]);
        assert!(dir.join("node-1.log").is_file());
    }
    let latest = store.path().join("latest");
    assert!(latest.exists(), "store/latest missing");
}

#[test]
fn builtin_strong_passes_what_it_promises() {
    builtin_mode("strong");
}

#[test]
fn builtin_causal_passes_what_it_promises() {
    builtin_mode("causal");
}

#[test]
fn builtin_session_passes_what_it_promises() {
    builtin_mode("session");
}

#[test]
fn builtin_eventual_passes_what_it_promises() {
    builtin_mode("eventual");
}

#[test]
fn builtin_eventual_register_under_clock_skew_is_caught_breaking_causal() {
    // Eventual mode orders register writes by (skewable) wall clocks: a process's write can
    // lose to a write it had already read, which it does not promise not to do. The register
    // checker must say so with its witness, not pass it.
    let store = tempfile::tempdir().unwrap();
    let (code, v, _, err) = run(
        store.path(),
        &[
            "--mode",
            "eventual",
            "--workload",
            "register",
            "--expect",
            "causal",
            "--nemesis",
            "clock",
            "--nemesis-interval",
            "0.3",
        ],
    );
    assert_eq!(code, 1, "{v}\n{err}");
    let stale: Vec<&Value> = ["read-your-writes", "monotonic-reads", "causal-stale-read"]
        .iter()
        .filter_map(|t| v["anomalies"][t].as_array())
        .flatten()
        .collect();
    assert!(!stale.is_empty(), "{v}");
    let e = stale[0]["explanation"].as_str().unwrap();
    assert!(e.contains("written by op") && e.contains("causally"), "{e}");
}

/// The `error`s of a history's failed `cas` ops: (recorded compare mismatches, any other).
fn failed_cas_errors(dir: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(dir.join("history.jsonl")).expect("history.jsonl");
    let (mut mismatch, mut other) = (0, 0);
    for l in text.lines() {
        let e: Value = serde_json::from_str(l).unwrap();
        if e["type"] == "fail" && e["f"] == "cas" {
            if e["error"] == "precondition-failed" {
                mismatch += 1;
            } else {
                other += 1;
            }
        }
    }
    (mismatch, other)
}

/// Issue 10's false alarm: the correct strong store was called nonlinearizable in 3 of 24
/// runs with faults, because a cas that failed on a refused connection (a killed or
/// partitioned node) was read as "the register did not hold the expected value". Short runs
/// with kills and partitions in namespaces, where refused connections are real; with the old
/// recording 4 of these 12 seeds (1, 4, 6, 9) were called nonlinearizable, so the chance that
/// a regression passes all 12 is well under 1%.
#[test]
fn builtin_strong_register_under_faults_is_never_called_nonlinearizable() {
    if !prerequisite(
        is_root(),
        "root (network namespaces: killed and cut-off nodes refuse connections)",
    ) {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let (mut mismatches, mut refused) = (0, 0);
    for seed in 1..=12 {
        let seed = seed.to_string();
        let (code, v, dir, err) = json_run(
            store.path(),
            &[
                "--workload",
                "register",
                "--mode",
                "strong",
                "--nemesis",
                "kill,partition",
                "--net",
                "netns",
                "--nemesis-interval",
                "0.5",
                "--time-limit",
                "4",
                "--settle",
                "0.5",
                "--concurrency",
                "10",
                "--rate",
                "300",
                "--seed",
                &seed,
            ],
        );
        assert_passes(
            code,
            &v,
            &format!("strong register under faults, seed {seed}"),
            &err,
        );
        let (m, o) = failed_cas_errors(&dir);
        // Each run exercised both kinds of failed cas.
        assert!(
            m > 0 && o > 0,
            "seed {seed}: {m} mismatches, {o} other failed cas"
        );
        mismatches += m;
        refused += o;
    }
    eprintln!("{mismatches} cas compare mismatches, {refused} cas failed otherwise");
}

#[test]
fn builtin_strong_set_and_counter_pass_their_checkers() {
    let store = tempfile::tempdir().unwrap();
    for workload in ["set", "counter"] {
        let (code, v, dir, err) = run(store.path(), &["--workload", workload]);
        assert_eq!(code, 0, "{workload}: {v}\n{err}");
        assert_eq!(v["valid"], Value::Bool(true));
        assert!(v["stats"]["analyses"]
            .as_array()
            .unwrap()
            .contains(&Value::from(workload)));
        assert_history_shape(&dir, &["1", "2", "3"]);
    }
}

#[test]
fn builtin_eventual_loses_concurrent_adds_and_the_set_checker_says_so() {
    // Eventual mode's adds are last-writer-wins read-modify-writes of one list at different
    // replicas, so concurrent adds overwrite each other: what it does not promise, it breaks.
    let store = tempfile::tempdir().unwrap();
    let (code, v, _, err) = run(
        store.path(),
        &["--mode", "eventual", "--workload", "set", "--expect", "set"],
    );
    assert_eq!(code, 1, "{v}\n{err}");
    let lost = v["anomalies"]["lost-element"]
        .as_array()
        .expect("lost-element");
    assert!(!lost.is_empty());
    assert!(lost[0]["explanation"]
        .as_str()
        .unwrap()
        .contains("final reads"));
    assert_eq!(v["not"], serde_json::json!(["set"]));
}

#[test]
fn builtin_strong_bank_conserves_money() {
    // A transfer reads both balances, then commits with cas preconditions on both: the strong
    // store applies it atomically at the primary, so no read ever sees money made or lost.
    let store = tempfile::tempdir().unwrap();
    let (code, v, dir, err) = run(store.path(), &["--workload", "bank"]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["valid"], Value::Bool(true));
    assert_eq!(v["expected"], serde_json::json!(["bank"]));
    assert!(v["stats"]["bank"]["reads"].as_u64().unwrap() > 5, "{v}");
    assert_eq!(v["stats"]["bank"]["total"], serde_json::json!(50));
    let events = assert_history_shape(&dir, &["1", "2", "3"]);
    // Some transfers went through and some were refused by their preconditions.
    let transfers = |t: &str| {
        events
            .iter()
            .filter(|e| e["f"] == "transfer" && e["type"] == t)
            .count()
    };
    assert!(transfers("ok") > 5, "{v}");
    assert!(transfers("fail") > 0, "{v}");
}

#[test]
fn a_run_without_nemesis_options_injects_the_default_faults_and_stays_valid() {
    // The README's first command, shortened: no --nemesis, so partitions, kills, pauses and
    // clock skew (whichever this machine can inject), each healed before the final reads.
    let store = tempfile::tempdir().unwrap();
    let (code, v, dir, err) = json_run(
        store.path(),
        &[
            "--time-limit",
            "4",
            "--nemesis-interval",
            "0.7",
            "--settle",
            "0.5",
            "--seed",
            "5",
        ],
    );
    assert_passes(code, &v, "default run", &err);
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    assert!(config.contains("\"partition\""), "{config}");
    let text = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let nemesis: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["process"] == "nemesis" && e["type"] == "invoke")
        .collect();
    let starts = nemesis
        .iter()
        .filter(|e| e["f"].as_str().unwrap().starts_with("start-"))
        .count();
    let stops = nemesis
        .iter()
        .filter(|e| e["f"].as_str().unwrap().starts_with("stop-"))
        .count();
    assert!(starts >= 2, "{nemesis:?}");
    assert_eq!(starts, stops, "every fault is healed: {nemesis:?}");
    assert_history_shape(&dir, &["1", "2", "3"]);
}

#[test]
fn builtin_strong_bank_conserves_money_under_partitions_and_kills() {
    // Partitions (the loopback link proxy, no root needed) and a killed replica make some
    // transfers fail or end indeterminate; none may make or lose money.
    let store = tempfile::tempdir().unwrap();
    let (code, v, dir, err) = json_run(
        store.path(),
        &[
            "--workload",
            "bank",
            "--nemesis",
            "partition,kill",
            "--net",
            "proxy",
            "--nemesis-interval",
            "1",
            "--time-limit",
            "5",
            "--settle",
            "0.5",
            "--concurrency",
            "4",
            "--rate",
            "150",
            "--seed",
            "2",
        ],
    );
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["stats"]["bank"]["total"], serde_json::json!(50));
    let text = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let faults = text
        .lines()
        .filter(|l| l.contains(r#""process":"nemesis""#) && l.contains(r#""f":"start-"#))
        .count();
    assert!(faults >= 4, "only {faults} nemesis events:\n{err}");
    assert!(
        text.lines()
            .any(|l| l.contains(r#""f":"transfer""#) && l.contains(r#""type":"ok""#)),
        "no transfer went through"
    );
}

#[test]
fn builtin_eventual_bank_makes_or_loses_money_and_the_bank_checker_says_so() {
    // Eventual (and causal) replicas check the cas preconditions against their own state and
    // merge last-writer-wins per key, so two concurrent transfers at two replicas each commit
    // and one account's write overwrites the other's: the total changes. Measured: every run
    // (6 seeds, 4 workers) had reads with a wrong non-zero total; no negative balance was seen,
    // so only the wrong total is asserted.
    let store = tempfile::tempdir().unwrap();
    let (code, v, _, err) = run(
        store.path(),
        &[
            "--mode",
            "eventual",
            "--workload",
            "bank",
            "--expect",
            "bank",
        ],
    );
    assert_eq!(code, 1, "{v}\n{err}");
    assert_eq!(v["not"], serde_json::json!(["bank"]));
    let wrong = v["anomalies"]["wrong-total"]
        .as_array()
        .expect("wrong-total");
    // The runner waits until every node shows the opening balances, so no witness is a read
    // from before them (total 0): each is money really made or lost by transfers.
    assert!(
        wrong
            .iter()
            .all(|a| a["data"]["total"] != serde_json::json!(0)),
        "a read before the opening balances: {v}"
    );
    let text = wrong[0]["explanation"].as_str().unwrap();
    assert!(text.contains("conserve the total 50"), "{text}");
}

#[test]
fn bank_defaults_follow_what_each_mode_promises() {
    let store = tempfile::tempdir().unwrap();
    let (code, v, _, err) = run(store.path(), &["--mode", "session", "--workload", "bank"]);
    assert_eq!(v["expected"], serde_json::json!(["bank"]));
    assert_eq!(code, 0, "session bank: {v}\n{err}");
    let (code, v, _, err) = run(store.path(), &["--mode", "causal", "--workload", "bank"]);
    assert_eq!(v["expected"], serde_json::json!(["convergent"]), "{v}");
    // Nothing the causal store promises can be judged on a bank history: unknown, never valid.
    assert_eq!(code, 3, "causal bank: {v}\n{err}");
}

#[test]
fn counter_defaults_follow_what_each_mode_promises() {
    // Session and causal replicas serve lagging reads but keep every acknowledged increment:
    // they promise `counter-durable`, not the linearizable `counter`.
    let store = tempfile::tempdir().unwrap();
    for mode in ["session", "causal"] {
        let (code, v, _, err) = run(store.path(), &["--mode", mode, "--workload", "counter"]);
        assert_eq!(v["expected"], serde_json::json!(["counter-durable"]), "{v}");
        assert_eq!(code, 0, "{mode} counter: {v}\n{err}");
    }
    // Eventual increments are last-writer-wins read-modify-writes of one list: concurrent ones
    // overwrite each other and no replica keeps them (measured: 5 of 5 seeds).
    let (code, v, _, err) = run(
        store.path(),
        &[
            "--mode",
            "eventual",
            "--workload",
            "counter",
            "--expect",
            "counter-durable",
        ],
    );
    assert_eq!(code, 1, "{v}\n{err}");
    let lost = v["anomalies"]["lost-increment"]
        .as_array()
        .expect("lost-increment");
    assert!(lost[0]["explanation"]
        .as_str()
        .unwrap()
        .contains("no replica has them"));
}

#[test]
fn run_summary_shows_counts_first_witness_and_inconsistency_window() {
    let store = tempfile::tempdir().unwrap();
    // An invalid run: the count of each type and its first witness (op indexes and sentence).
    let (code, out, err) = short_run(
        store.path(),
        &[
            "--mode",
            "eventual",
            "--workload",
            "bank",
            "--expect",
            "bank",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("verdict:  INVALID"), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("wrong-total: "))
        .unwrap_or_else(|| panic!("no wrong-total count line: {out}"));
    assert!(line.contains(" found (first: ops ["), "{line}");
    assert!(out.contains("transfers conserve the total 50"), "{out}");
    assert!(out.contains("not: bank\n"), "{out}");
    assert!(out.contains("seed:     42"), "{out}");
    // Eventual list-append: convergence measures how long acknowledged appends took to reach
    // every replica's final state, and the summary shows it.
    let (code, out, err) = short_run(store.path(), &["--mode", "eventual"]);
    assert!(code == 0 || code == 1, "{out}\n{err}");
    let window = out
        .lines()
        .find(|l| l.trim_start().starts_with("inconsistency window: p50 "))
        .unwrap_or_else(|| panic!("no inconsistency window line: {out}"));
    assert!(
        window.contains("p95 ")
            && window.contains("max ")
            && window.contains("acknowledged appends"),
        "{window}"
    );
    // A strong run checks no convergence: no window line, and a plain valid verdict.
    let (code, out, err) = short_run(store.path(), &["--workload", "bank"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("verdict:  VALID"), "{out}");
    assert!(!out.contains("inconsistency window"), "{out}");
    assert!(!out.contains(" found"), "{out}");
}

#[test]
fn same_seed_same_operations() {
    let store = tempfile::tempdir().unwrap();
    let invocations = |dir: &Path| -> Vec<(u64, String)> {
        let text = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
        let mut per_process: Vec<(u64, String)> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["type"] == "invoke" && e["phase"].is_null())
            .map(|e| {
                (
                    e["process"].as_u64().unwrap(),
                    format!("{} {}", e["f"], e["value"]),
                )
            })
            .collect();
        // Interleaving differs between runs; each worker's sequence must not.
        per_process.sort_by_key(|p| p.0);
        per_process
    };
    let (_, _, a, _) = run(store.path(), &["--workload", "set", "--name", "a"]);
    let (_, _, b, _) = run(store.path(), &["--workload", "set", "--name", "b"]);
    let (ia, ib) = (invocations(&a), invocations(&b));
    // Workers may get a few more or fewer ops in; compare each process's common prefix.
    for p in 0..4u64 {
        let xa: Vec<&String> = ia.iter().filter(|x| x.0 == p).map(|x| &x.1).collect();
        let xb: Vec<&String> = ib.iter().filter(|x| x.0 == p).map(|x| &x.1).collect();
        let k = xa.len().min(xb.len());
        assert!(k > 10, "too few ops for process {p}");
        assert_eq!(xa[..k], xb[..k], "process {p} diverged with the same seed");
    }
}

#[test]
fn usage_errors_exit_2_before_starting_anything() {
    let store = tempfile::tempdir().unwrap();
    let s = store.path().display().to_string();
    let (code, _, err) = faultline(&["run", "--store", &s, "--expect", "bogus"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown consistency model"), "{err}");
    assert!(!store.path().join("latest").exists());
}

#[test]
fn etcd_register_is_linearizable_and_list_append_strict_serializable() {
    if !etcd_present() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let (code, v, dir, err) = run(
        store.path(),
        &["--target", "etcd", "--workload", "register"],
    );
    assert_eq!(v["expected"], serde_json::json!(["linearizable"]));
    assert_passes(code, &v, "etcd register", &err);
    let events = assert_history_shape(&dir, &["n1", "n2", "n3"]);
    // cas whose precondition was false is a definite failure, never indeterminate here.
    assert!(
        events.iter().all(|e| e["type"] != "info"),
        "info ops without faults"
    );
    // Without faults every failed cas is a compare mismatch, recorded as one.
    let (mismatches, other) = failed_cas_errors(&dir);
    assert!(
        mismatches > 0 && other == 0,
        "{mismatches} mismatches, {other} other"
    );
    let (code, v, dir, err) = run(
        store.path(),
        &["--target", "etcd", "--workload", "list-append"],
    );
    assert_eq!(v["expected"], serde_json::json!(["strict-serializable"]));
    assert_passes(code, &v, "etcd list-append", &err);
    let events = assert_history_shape(&dir, &["n1", "n2", "n3"]);
    // Reads inside committed transactions saw lists.
    assert!(events.iter().any(|e| e["type"] == "ok"
        && e["value"].as_array().is_some_and(|m| m
            .iter()
            .any(|x| x[0] == "r" && x[2].as_array().is_some_and(|l| !l.is_empty())))));
}

#[test]
fn etcd_serializable_register_is_unknown_for_sequential_never_valid() {
    // Serializable reads may be stale: etcd then promises sequential consistency, which is
    // decided for one register only (it is not compositional over keys); the run uses many
    // keys, so the causal checks run and the verdict is unknown and says why.
    if !etcd_present() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let (code, v, _, err) = run(
        store.path(),
        &[
            "--target",
            "etcd",
            "--workload",
            "register",
            "--etcd-reads",
            "serializable",
        ],
    );
    assert_eq!(v["expected"], serde_json::json!(["sequential"]));
    assert_eq!(code, 3, "{v}\n{err}");
    assert_eq!(v["valid"], "unknown");
    assert!(
        v["unknown_reasons"][0]
            .as_str()
            .unwrap()
            .contains("decided only for single-register histories"),
        "{v}"
    );
    assert_eq!(v["anomaly_types"], serde_json::json!([]), "{v}");
}

#[test]
fn etcd_bank_conserves_money() {
    if !etcd_present() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let (code, v, _, err) = run(store.path(), &["--target", "etcd", "--workload", "bank"]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["valid"], Value::Bool(true));
    assert!(v["stats"]["bank"]["reads"].as_u64().unwrap() > 5);
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie (state Z) has exited; only its parent's reaping is pending.
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|st| st != "Z"),
        Err(_) => false,
    }
}

#[test]
fn sigkill_mid_run_leaves_a_checkable_history_and_no_nodes() {
    let store = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(bin())
        .args(["run", "--nemesis", "none", "--time-limit", "60", "--store"])
        .arg(store.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let latest = store.path().join("latest");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = 0;
    while Instant::now() < deadline {
        lines = std::fs::read_to_string(latest.join("history.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines > 100 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let nodes: Value = serde_json::from_str(
        &std::fs::read_to_string(latest.join("nodes.json")).expect("nodes.json"),
    )
    .unwrap();
    let pids: Vec<u32> = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["pid"].as_u64().map(|p| p as u32))
        .collect();
    assert_eq!(pids.len(), 3, "{nodes}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(lines > 100, "the history did not grow before the kill");
    // The kernel's parent-death signal takes the nodes down with the harness.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let survivors: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    for &p in &survivors {
        // Clean up by pid before failing.
        let _ = std::process::Command::new("kill")
            .args(["-9", &p.to_string()])
            .status();
    }
    assert!(
        survivors.is_empty(),
        "node processes survived the harness: {survivors:?}"
    );
    let h = latest.join("history.jsonl").display().to_string();
    let (code, out, err) = faultline(&["check", &h, "--expect", "strict-serializable"]);
    assert!(
        [0, 1, 3].contains(&code),
        "check of the killed run's history: exit {code}\n{out}\n{err}"
    );
}
