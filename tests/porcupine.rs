//! Compatibility with Porcupine: every verdict of `../shared/corpus/porcupine/expected.tsv`
//! (102 etcd logs, 6 kv files), checked through the binary in one invocation.

use crate::util::{faultline, prerequisite, repo_root};
use std::collections::BTreeMap;

#[test]
fn all_porcupine_verdicts_match() {
    let corpus = repo_root().join("../shared/corpus/porcupine");
    let tsv = corpus.join("expected.tsv");
    if !prerequisite(
        tsv.is_file(),
        &format!("the Porcupine corpus ({} is absent)", tsv.display()),
    ) {
        return;
    }
    let text = std::fs::read_to_string(&tsv).unwrap();
    let mut expected: BTreeMap<String, bool> = BTreeMap::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let (file, verdict) = line.split_once('\t').expect("file<TAB>verdict");
        let valid = match verdict.trim() {
            "linearizable" => true,
            "nonlinearizable" => false,
            other => panic!("unexpected verdict {other:?} in expected.tsv"),
        };
        let path = corpus.join(file).display().to_string();
        expected.insert(path, valid);
    }
    assert_eq!(expected.len(), 108, "expected.tsv should list 108 files");
    let mut args = vec!["check", "--json", "--expect", "linearizable"];
    args.extend(expected.keys().map(|s| s.as_str()));
    let (code, out, err) = faultline(&args);
    let mut seen = 0;
    let mut wrong = Vec::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        let file = v["file"].as_str().expect("file field").to_string();
        let want = expected[&file];
        let got = &v["valid"];
        if *got != serde_json::Value::Bool(want) {
            wrong.push(format!("{file}: expected valid={want}, got {got}"));
        }
        if !want {
            let a = &v["anomalies"]["nonlinearizable"][0];
            assert!(
                a["explanation"]
                    .as_str()
                    .is_some_and(|e| e.contains("cannot be linearized")),
                "{file}: witness missing: {a}"
            );
        }
        seen += 1;
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
    assert_eq!(seen, 108, "one result line per file; stderr: {err}");
    assert_eq!(
        code, 1,
        "some files are nonlinearizable: worst exit code is 1"
    );
}
