//! `faultline check` on transactional histories: exit codes, `--json` anomalies and model
//! boundary, `--out` explanations and pictures.

use crate::util::{faultline, write};
use serde_json::Value;

/// JSONL for transactions given as (process, type, invoke value, completion value), each
/// invoked then completed in order unless `concurrent`.
fn jsonl(txns: &[(u64, &str, &str, &str)], concurrent: bool) -> String {
    let inv = |p: u64, v: &str| {
        format!("{{\"process\":{p},\"type\":\"invoke\",\"f\":\"txn\",\"value\":{v}}}\n")
    };
    let done = |p: u64, t: &str, v: &str| {
        format!("{{\"process\":{p},\"type\":\"{t}\",\"f\":\"txn\",\"value\":{v}}}\n")
    };
    let mut s = String::new();
    if concurrent {
        for &(p, _, i, _) in txns {
            s += &inv(p, i);
        }
        for &(p, t, _, c) in txns {
            s += &done(p, t, c);
        }
    } else {
        for &(p, t, i, c) in txns {
            s += &inv(p, i);
            s += &done(p, t, c);
        }
    }
    s
}

fn json(out: &str) -> Value {
    serde_json::from_str(out.lines().next().expect("one line")).expect("json")
}

const READ_SKEW: &[(u64, &str, &str, &str)] = &[
    (
        0,
        "ok",
        r#"[["append","x",1],["append","y",1]]"#,
        r#"[["append","x",1],["append","y",1]]"#,
    ),
    (
        1,
        "ok",
        r#"[["r","x",null],["r","y",null]]"#,
        r#"[["r","x",[1]],["r","y",[]]]"#,
    ),
];

#[test]
fn serializable_history_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let ok: &[(u64, &str, &str, &str)] = &[
        (0, "ok", r#"[["append","x",1]]"#, r#"[["append","x",1]]"#),
        (
            1,
            "ok",
            r#"[["r","x",null],["append","y",2]]"#,
            r#"[["r","x",[1]],["append","y",2]]"#,
        ),
        (
            0,
            "ok",
            r#"[["r","y",null],["r","x",null]]"#,
            r#"[["r","y",[2]],["r","x",[1]]]"#,
        ),
    ];
    let p = write(dir.path(), "ok.jsonl", &jsonl(ok, false));
    let (code, out, err) = faultline(&["check", &p, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["valid"], true);
    assert_eq!(v["expected"], serde_json::json!(["strict-serializable"]));
    // strict-serializable implies the session and causal guarantees; the isolation analysis's
    // process and realtime cycles decide them, so the session analysis does not run as well.
    assert_eq!(v["stats"]["analyses"], serde_json::json!(["isolation"]));
}

#[test]
fn read_skew_is_invalid_with_boundary_and_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "skew.jsonl", &jsonl(READ_SKEW, true));
    let (code, out, err) = faultline(&["check", &p, "--json", "--expect", "serializable"]);
    assert_eq!(code, 1, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["valid"], false);
    assert_eq!(v["anomaly_types"], serde_json::json!(["G-single-item"]));
    assert_eq!(
        v["not"],
        serde_json::json!(["consistent-view", "repeatable-read"])
    );
    let also: Vec<&str> = v["also_not"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(
        also.contains(&"serializable") && also.contains(&"strict-serializable"),
        "{also:?}"
    );
    let a = &v["anomalies"]["G-single-item"][0];
    assert_eq!(a["ops"], serde_json::json!([0, 1]));
    let text = a["explanation"].as_str().unwrap();
    assert!(
        text.contains("T2 did not observe T1's append of 1 to y"),
        "{text}"
    );
    assert_eq!(a["data"]["cycle"]["steps"][0]["rel"], "wr");
    // Snapshot isolation forbids it too; read committed does not.
    let (code, _, _) = faultline(&["check", &p, "--expect", "snapshot-isolation"]);
    assert_eq!(code, 1);
    let (code, out, _) = faultline(&["check", &p, "--expect", "read-committed"]);
    assert_eq!(code, 0, "{out}");
    // The human summary shows the explanation.
    let (_, out, _) = faultline(&["check", &p, "--expect", "serializable"]);
    assert!(
        out.contains("G-single-item: 1 found")
            && out.contains("T1 < T2 because T2 observed T1's append of 1 to x"),
        "{out}"
    );
}

#[test]
fn stale_read_violates_the_default_strict_serializability() {
    let dir = tempfile::tempdir().unwrap();
    let stale: &[(u64, &str, &str, &str)] = &[
        (0, "ok", r#"[["append","x",1]]"#, r#"[["append","x",1]]"#),
        (1, "ok", r#"[["r","x",null]]"#, r#"[["r","x",[]]]"#),
    ];
    let p = write(dir.path(), "stale.jsonl", &jsonl(stale, false));
    let (code, out, err) = faultline(&["check", &p, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let v = json(&out);
    assert_eq!(
        v["anomaly_types"],
        serde_json::json!(["G-single-item-realtime"])
    );
    assert_eq!(v["not"], serde_json::json!(["strong-snapshot-isolation"]));
    let (code, _, _) = faultline(&["check", &p, "--expect", "serializable"]);
    assert_eq!(code, 0);
}

#[test]
fn out_dir_gets_svg_and_dot_per_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "skew.jsonl", &jsonl(READ_SKEW, true));
    let out_dir = dir.path().join("out");
    let (code, out, err) = faultline(&[
        "check",
        &p,
        "--expect",
        "serializable",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let svg = std::fs::read_to_string(out_dir.join("isolation/G-single-item-1.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
    assert!(
        svg.contains(">T1<") && svg.contains(">T2<") && svg.contains(">rw y<"),
        "{svg}"
    );
    let dot = std::fs::read_to_string(out_dir.join("isolation/G-single-item-1.dot")).unwrap();
    assert!(
        dot.starts_with("digraph") && dot.contains("T1 -> T2 [label=\"wr x\""),
        "{dot}"
    );
    let text = std::fs::read_to_string(out_dir.join("G-single-item.txt")).unwrap();
    assert!(text.contains("So T1 < T2 < T1"), "{text}");
}

#[test]
fn nothing_committed_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let failed: &[(u64, &str, &str, &str)] =
        &[(0, "fail", r#"[["append","x",1]]"#, r#"[["append","x",1]]"#)];
    let p = write(dir.path(), "empty.jsonl", &jsonl(failed, false));
    let (code, out, err) = faultline(&["check", &p, "--json"]);
    assert_eq!(code, 3, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["valid"], "unknown");
    assert_eq!(
        v["anomaly_types"],
        serde_json::json!(["empty-transaction-graph"])
    );
}

#[test]
fn bad_micro_op_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad: &[(u64, &str, &str, &str)] = &[
        (0, "ok", r#"[["append","x",1]]"#, r#"[["append","x",1]]"#),
        (0, "ok", r#"[["inc","x",1]]"#, r#"[["inc","x",1]]"#),
    ];
    let p = write(dir.path(), "bad.jsonl", &jsonl(bad, false));
    let (code, _out, err) = faultline(&["check", &p]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("bad.jsonl:4") && err.contains("unknown function"),
        "{err}"
    );
}

#[test]
fn register_histories_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let lost: &[(u64, &str, &str, &str)] = &[
        (
            0,
            "ok",
            r#"[["r","x",null],["w","x",1]]"#,
            r#"[["r","x",null],["w","x",1]]"#,
        ),
        (
            1,
            "ok",
            r#"[["r","x",null],["w","x",2]]"#,
            r#"[["r","x",null],["w","x",2]]"#,
        ),
    ];
    let p = write(dir.path(), "lost.jsonl", &jsonl(lost, true));
    let (code, out, _) = faultline(&["check", &p, "--json", "--expect", "serializable"]);
    assert_eq!(code, 1, "{out}");
    let v = json(&out);
    assert_eq!(
        v["anomaly_types"],
        serde_json::json!(["G2-item", "lost-update"])
    );
    assert_eq!(v["stats"]["isolation"]["data_model"], "rw-register");
    assert_eq!(
        v["stats"]["isolation"]["version_order"],
        serde_json::json!(["initial-nil", "read-then-write"])
    );
}

#[test]
fn models_this_analysis_does_not_check_are_not_called_valid() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "skew.jsonl", &jsonl(READ_SKEW, true));
    // Read-your-writes is not a transactional model: the isolation analysis must not run for
    // it (and so must not make the verdict valid); with nothing else checking, it is unknown.
    let (code, out, _) = faultline(&["check", &p, "--json", "--expect", "read-your-writes"]);
    let v = json(&out);
    let ran: Vec<&str> = v["stats"]["analyses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(!ran.contains(&"isolation"), "{out}");
    if ran.is_empty() {
        assert_eq!(v["valid"], "unknown", "{out}");
        assert_eq!(code, 3);
    }
}
