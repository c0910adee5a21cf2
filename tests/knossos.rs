//! Compatibility with Knossos: the histories of jepsen-io/knossos's `data/` folder, checked with
//! the models Knossos's own tests use (`core_test.clj`: `(cas-register 0)`,
//! `(multi-register {:x 0 :y 0})`; `mutex` for the mutex histories), must get Knossos's verdict:
//! every `good/` history linearizable, every `bad/` history not. One difference is deliberate
//! (docs/linearizability.md): a history with no client operations at all (Knossos's
//! `mongodb-v0-ack-rollback-.edn` holds only nemesis events) is valid for Knossos, unknown for
//! faultline, which never calls a history valid when it could not have shown a violation.
//!
//! The corpus is third-party data and is not committed: set `FAULTLINE_KNOSSOS_DATA` to the
//! `data/` folder of a Knossos checkout (docs/linearizability.md says how). Without it the
//! test says loudly that it was skipped.

use crate::util::{external_corpus, faultline};
use std::path::{Path, PathBuf};

/// History files under `dir` (sorted), `.edn` only, as Knossos's test reads them.
fn edn_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "edn"));
    files.sort();
    files
}

/// Knossos's model for each folder, as faultline flags.
fn model_flags(model: &str) -> Vec<&'static str> {
    match model {
        "cas-register" => vec!["--model", "cas-register", "--initial", "0"],
        "multi-register" => vec!["--model", "multi-register", "--initial", r#"{"x":0,"y":0}"#],
        "mutex" => vec!["--model", "mutex"],
        other => panic!("no Knossos model for {other}"),
    }
}

#[test]
fn knossos_data_verdicts_match() {
    let Some(data) = external_corpus("FAULTLINE_KNOSSOS_DATA", "Knossos's data/ corpus") else {
        return;
    };
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut vacuous = 0;
    for model in ["cas-register", "multi-register", "mutex"] {
        for (sub, want_valid) in [("good", true), ("bad", false)] {
            let files = edn_files(&data.join(model).join(sub));
            if files.is_empty() {
                continue;
            }
            let mut args = vec!["check", "--json"];
            args.extend(model_flags(model));
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            args.extend(names.iter().map(|s| s.as_str()));
            let (_code, out, err) = faultline(&args);
            let mut lines = 0;
            for line in out.lines() {
                let v: serde_json::Value =
                    serde_json::from_str(line).expect("one JSON object per line");
                let file = v["file"].as_str().unwrap_or("?").to_string();
                lines += 1;
                let got = &v["valid"];
                let no_ops = v["unknown_reasons"].as_array().is_some_and(|r| {
                    r.iter().any(|r| {
                        r.as_str()
                            .is_some_and(|r| r.contains("no client operations"))
                    })
                });
                if want_valid && got == "unknown" && no_ops {
                    vacuous += 1;
                } else if *got != serde_json::Value::Bool(want_valid) {
                    wrong.push(format!(
                        "{file} ({model}): Knossos says valid={want_valid}, faultline {got}: {}",
                        v["anomalies"]
                    ));
                } else if !want_valid {
                    let a = &v["anomalies"]["nonlinearizable"][0];
                    assert!(
                        a["explanation"].as_str().is_some_and(|e| !e.is_empty()),
                        "{file}: an invalid verdict without its explanation: {a}"
                    );
                }
            }
            assert_eq!(lines, files.len(), "one result per file; stderr: {err}");
            checked += lines;
        }
    }
    eprintln!(
        "Knossos corpus: {checked} files, {} disagreements, {vacuous} without client ops (unknown on purpose)",
        wrong.len()
    );
    assert!(
        vacuous <= 1,
        "{vacuous} histories without client operations"
    );
    assert!(
        checked > 100,
        "only {checked} files under {}",
        data.display()
    );
    assert!(
        wrong.is_empty(),
        "verdicts differ from Knossos's:\n{}",
        wrong.join("\n")
    );
}
