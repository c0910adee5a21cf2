//! `faultline check`: exit codes, malformed input, JSON shape.

use crate::util::{faultline, write};

#[test]
fn malformed_input_names_file_and_line_and_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bad.jsonl", "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{\"process\":0,\"type\":\"weird\",\"f\":\"read\"}\n");
    let (code, _out, err) = faultline(&["check", &p]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("bad.jsonl:2"), "{err}");
    assert!(err.contains("unknown `type`"), "{err}");

    let p = write(
        dir.path(),
        "orphan.jsonl",
        "{\"process\":3,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
    );
    let (code, _out, err) = faultline(&["check", &p]);
    assert_eq!(code, 4);
    assert!(
        err.contains("orphan.jsonl:1") && err.contains("no pending invocation"),
        "{err}"
    );

    let p = write(
        dir.path(),
        "json.jsonl",
        "{\"process\":0,\"type\":\"invoke\"\n",
    );
    let (code, _out, err) = faultline(&["check", &p]);
    assert_eq!(code, 4);
    assert!(
        err.contains("json.jsonl:1") && err.contains("bad JSON"),
        "{err}"
    );
}

#[test]
fn unknown_model_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "h.jsonl", "");
    let (code, _out, err) = faultline(&["check", &p, "--expect", "telepathic"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown consistency model"), "{err}");
    let (code, _, _) = faultline(&["check"]);
    assert_eq!(code, 2);
}

#[test]
fn missing_file_is_an_error() {
    let (code, _out, err) = faultline(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(code, 4);
    assert!(err.contains("/nonexistent/history.jsonl"), "{err}");
}

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    // Enough output that the pipe fills after the reader closed it.
    let mut files = Vec::new();
    for i in 0..200 {
        files.push(write(
            dir.path(),
            &format!("h{i}.jsonl"),
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n",
        ));
    }
    let mut child = Command::new(crate::util::bin())
        .arg("check")
        .arg("--json")
        .args(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn junit_report_has_a_case_per_model_failures_for_violations_and_errors_for_unknowns() {
    use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
    let dir = tempfile::tempdir().unwrap();
    let root = crate::util::repo_root();
    let ryw = root.join("examples/read-your-writes.jsonl");
    let ok = root.join("examples/causal-ok.jsonl");
    let bad = write(
        dir.path(),
        "bad.jsonl",
        "{\"process\":0,\"type\":\"ok\",\"f\":\"txn\"}\n",
    );
    // A txn history whose only completed transaction has a micro-op no checker reads (`inc`):
    // no analysis applies to it for these models, so they are undecided.
    let undecided = write(
        dir.path(),
        "undecided.jsonl",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",\"x\",1]]}\n{\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"inc\",\"x\",1]]}\n",
    );
    let xml = dir.path().join("report.xml");
    let (code, _out, err) = faultline(&[
        "check",
        ryw.to_str().unwrap(),
        ok.to_str().unwrap(),
        &bad,
        &undecided,
        "--expect",
        "read-your-writes,causal",
        "--junit",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(code, 4, "{err}");
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&xml).unwrap()).unwrap();
    let suites = &report.test_suites;
    assert_eq!(suites.len(), 4);
    let kinds = |i: usize| -> Vec<(String, Option<NonSuccessKind>)> {
        suites[i]
            .test_cases
            .iter()
            .map(|c| {
                let kind = match &c.status {
                    TestCaseStatus::Success { .. } => None,
                    TestCaseStatus::NonSuccess { kind, .. } => Some(*kind),
                    TestCaseStatus::Skipped { .. } => panic!("nothing is skipped"),
                };
                (c.name.to_string(), kind)
            })
            .collect()
    };
    // The read-your-writes example violates read-your-writes (and with it causal).
    assert_eq!(
        kinds(0),
        vec![
            ("read-your-writes".into(), Some(NonSuccessKind::Failure)),
            ("causal".into(), Some(NonSuccessKind::Failure)),
        ]
    );
    let TestCaseStatus::NonSuccess {
        ty, description, ..
    } = &suites[0].test_cases[0].status
    else {
        unreachable!()
    };
    assert_eq!(ty.as_deref(), Some("read-your-writes"));
    assert!(description
        .as_deref()
        .unwrap()
        .contains("read-your-writes: 1 found"));
    assert_eq!(
        kinds(1),
        vec![("read-your-writes".into(), None), ("causal".into(), None)]
    );
    assert_eq!(
        kinds(2),
        vec![("load and check".into(), Some(NonSuccessKind::Error))]
    );
    assert_eq!(
        kinds(3),
        vec![
            ("read-your-writes".into(), Some(NonSuccessKind::Error)),
            ("causal".into(), Some(NonSuccessKind::Error)),
        ]
    );
}
