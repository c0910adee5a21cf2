//! `faultline check` with the session, causal and eventual models on list-append histories:
//! verdicts, exit codes, the `--json` shape, `--out` files and malformed transactions.

use crate::util::{faultline, repo_root, write};
use serde_json::Value;

fn example(name: &str) -> String {
    repo_root()
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

fn json_of(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn valid_example_passes_every_weak_model() {
    let (code, out, err) = faultline(&[
        "check",
        &example("causal-ok.jsonl"),
        "--expect",
        "session,causal,eventual",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("VALID"), "{out}");
    let (code, out, _) = faultline(&[
        "check",
        &example("causal-ok.jsonl"),
        "--expect",
        "session,causal,eventual",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v = &json_of(&out)[0];
    assert_eq!(v["valid"], Value::Bool(true));
    assert_eq!(v["anomaly_types"], serde_json::json!([]));
    assert_eq!(v["not"], serde_json::json!([]));
    assert_eq!(v["expected"].as_array().unwrap().len(), 6);
    let w = &v["stats"]["inconsistency-window-ns"];
    assert_eq!(w["count"], 4, "{w}");
    for f in ["p50", "p95", "p99", "max"] {
        assert!(w[f].is_i64(), "{f} in {w}");
    }
    // Process 1's appends of x 2 and y 1 were acknowledged at 1600 and still missing from
    // op 4, invoked at 2000: 400 ns windows; x 1 and y 2 were in every later read: 0.
    assert_eq!(w["max"], 400, "{w}");
    assert_eq!(w["p50"], 0, "{w}");
    assert_eq!(v["file"], Value::from(example("causal-ok.jsonl")));
}

#[test]
fn read_your_writes_violation_exits_1_with_witness() {
    let (code, out, err) = faultline(&[
        "check",
        &example("read-your-writes.jsonl"),
        "--expect",
        "session,causal",
        "--json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let v = &json_of(&out)[0];
    assert_eq!(v["valid"], Value::Bool(false));
    assert_eq!(v["anomaly_types"], serde_json::json!(["read-your-writes"]));
    let a = &v["anomalies"]["read-your-writes"][0];
    assert_eq!(a["type"], "read-your-writes");
    assert_eq!(a["ops"], serde_json::json!([0, 4]));
    assert_eq!(a["key"], "x");
    assert_eq!(
        a["explanation"],
        "process 0 appended 1 to x (op 0, ok) and later read x as [2] (op 4), which lacks 1"
    );
    assert_eq!(v["not"], serde_json::json!(["read-your-writes"]));
    let also: Vec<&str> = v["also_not"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(
        also.contains(&"causal") && also.contains(&"pram"),
        "{also:?}"
    );
    // Only the models the user names are judged: monotonic reads holds here.
    let (code, _, _) = faultline(&[
        "check",
        &example("read-your-writes.jsonl"),
        "--expect",
        "monotonic-reads",
    ]);
    assert_eq!(code, 0);
}

#[test]
fn divergence_and_lost_write_under_eventual() {
    let (code, out, err) = faultline(&[
        "check",
        &example("divergence.jsonl"),
        "--expect",
        "eventual",
        "--json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let v = &json_of(&out)[0];
    assert_eq!(
        v["anomaly_types"],
        serde_json::json!(["divergence", "lost-write"])
    );
    assert_eq!(
        v["anomalies"]["divergence"][0]["ops"],
        serde_json::json!([7, 9])
    );
    assert_eq!(
        v["anomalies"]["lost-write"][0]["ops"],
        serde_json::json!([4, 9])
    );
    // Divergence violates `convergent`, the weakest model; `eventual` (convergent plus no lost
    // acknowledged write) falls with it.
    assert_eq!(v["not"], serde_json::json!(["convergent"]));
    assert!(v["also_not"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("eventual")));
}

#[test]
fn eventual_without_final_reads_is_unknown() {
    let (code, out, err) = faultline(&[
        "check",
        &example("read-your-writes.jsonl"),
        "--expect",
        "eventual",
        "--json",
    ]);
    assert_eq!(code, 3, "{out}{err}");
    let v = &json_of(&out)[0];
    assert_eq!(v["valid"], "unknown");
    assert!(v["unknown_reasons"][0]
        .as_str()
        .unwrap()
        .contains("no completed final reads"));
}

#[test]
fn out_dir_gets_results_and_explanations() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let (code, _, err) = faultline(&[
        "check",
        &example("divergence.jsonl"),
        "--expect",
        "causal,eventual",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["valid"], Value::Bool(false));
    let text = std::fs::read_to_string(out_dir.join("lost-write.txt")).unwrap();
    assert!(text.contains("lost-write #1 (ops [4, 9])"), "{text}");
    assert!(text.contains("appended 3 to x"), "{text}");
    let text = std::fs::read_to_string(out_dir.join("causal-order-conflict.txt")).unwrap();
    assert!(text.contains("op 7 read x as [1 2] (1 before 2)"), "{text}");
}

#[test]
fn several_files_worst_verdict_wins() {
    let (code, out, _) = faultline(&[
        "check",
        &example("causal-ok.jsonl"),
        &example("read-your-writes.jsonl"),
        "--expect",
        "session,causal",
        "--json",
    ]);
    assert_eq!(code, 1);
    let vs = json_of(&out);
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[0]["valid"], Value::Bool(true));
    assert_eq!(vs[1]["valid"], Value::Bool(false));
}

#[test]
fn causal_violation_through_another_session() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "stale.jsonl",
        r#"{"process":0,"type":"invoke","f":"txn","value":[["append","x",1]]}
{"process":0,"type":"ok","f":"txn","value":[["append","x",1]]}
{"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["append","y",1]]}
{"process":1,"type":"ok","f":"txn","value":[["r","x",[1]],["append","y",1]]}
{"process":2,"type":"invoke","f":"txn","value":[["r","y",null]]}
{"process":2,"type":"ok","f":"txn","value":[["r","y",[1]]]}
{"process":2,"type":"invoke","f":"txn","value":[["r","x",null]]}
{"process":2,"type":"ok","f":"txn","value":[["r","x",[]]]}
"#,
    );
    let (code, out, err) = faultline(&["check", &p, "--expect", "causal", "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let v = &json_of(&out)[0];
    assert_eq!(v["anomaly_types"], serde_json::json!(["causal-stale-read"]));
    assert_eq!(v["not"], serde_json::json!(["causal"]));
    // Session guarantees alone do not forbid it.
    let (code, _, _) = faultline(&["check", &p, "--expect", "session"]);
    assert_eq!(code, 0);
}

#[test]
fn malformed_transaction_is_bad_input_with_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "bad.jsonl",
        r#"{"process":0,"type":"invoke","f":"txn","value":[["append","x",1]]}
{"process":0,"type":"ok","f":"txn","value":[["append","x",1]]}
{"process":1,"type":"invoke","f":"txn","value":[["r","x",null]]}
{"process":1,"type":"ok","f":"txn","value":[["r","x",7]]}
"#,
    );
    let (code, _, err) = faultline(&["check", &p, "--expect", "causal"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("bad.jsonl:4"), "{err}");
    assert!(err.contains("a list read must be a list or null"), "{err}");
}

#[test]
fn bench_causal_runs_and_reports_each_size() {
    // Speed is measured by the bench, never asserted here: this checks that it runs, judges the
    // generated histories valid, and reports one line per size.
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = faultline(&[
        "bench",
        "causal",
        "--sizes",
        "500,1000",
        "--json",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let lines = json_of(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["txns"], 500);
    assert_eq!(lines[1]["txns"], 1000);
    assert_eq!(lines[1]["valid"], Value::Bool(true));
    assert!(lines[1]["peak_rss_kib"].as_u64().unwrap() > 0);
    // The temporary histories are removed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let (code, _, err) = faultline(&["bench", "causal", "--sizes", "0"]);
    assert_eq!(code, 4, "{err}");
}

#[test]
fn bench_isolation_loads_the_file_and_reports_each_size() {
    // As for bench causal: runs, judges the generated histories valid (it exits non-zero
    // otherwise), reports one line per size, and removes its temporary files.
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = faultline(&[
        "bench",
        "isolation",
        "--sizes",
        "600,300",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.first().is_some_and(|t| t.parse::<u64>().is_ok()))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0][0], "300");
    assert_eq!(rows[1][0], "600");
    // Peak MiB (the whole process, loading included) is a positive number.
    assert!(rows[1][8].parse::<f64>().unwrap() > 0.0, "{out}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let (code, _, err) = faultline(&["bench", "isolation", "--sizes", "0"]);
    assert_eq!(code, 4, "{err}");
}
