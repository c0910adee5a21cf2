//! `faultline check --expect linearizable` end to end: formats, time limit, exit codes, the
//! HTML picture.

use crate::util::{faultline, write};

/// Two writes then a stale read: not linearizable.
const STALE: &str = r#"{"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":1,"type":"invoke","f":"write","value":2}
{"process":1,"type":"ok","f":"write","value":2}
{"process":0,"type":"invoke","f":"read","value":null}
{"process":0,"type":"ok","f":"read","value":1}
"#;

const FINE: &str = r#"{"process":0,"type":"invoke","f":"write","value":1}
{"process":1,"type":"invoke","f":"read","value":null}
{"process":1,"type":"ok","f":"read","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":2,"type":"invoke","f":"cas","value":[1,3]}
{"process":2,"type":"ok","f":"cas","value":[1,3]}
{"process":2,"type":"invoke","f":"cas","value":[1,4]}
{"process":2,"type":"fail","f":"cas","value":[1,4]}
"#;

#[test]
fn verdicts_exit_codes_and_witness() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "stale.jsonl", STALE);
    let good = write(dir.path(), "fine.jsonl", FINE);
    let (code, out, err) = faultline(&["check", &good]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("VALID"), "{out}");
    let (code, out, _) = faultline(&["check", "--json", &bad]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let a = &v["anomalies"]["nonlinearizable"][0];
    assert_eq!(
        a["ops"][0], 4,
        "the stale read (event index 4) is the witness: {a}"
    );
    let e = a["explanation"].as_str().unwrap();
    assert!(e.contains("read 1 is impossible in state 2"), "{e}");
    assert_eq!(v["stats"]["linearizability"]["model"], "register");
    // Several files: worst exit code wins, one line per file.
    let (code, out, _) = faultline(&["check", "--json", &good, &bad]);
    assert_eq!(code, 1);
    assert_eq!(out.lines().count(), 2);
}

#[test]
fn time_limit_makes_the_verdict_unknown() {
    // Many concurrent writes and reads of distinct values that nothing can order: the search
    // is exponential, a tiny time limit must give unknown (exit 3), never valid.
    let mut h = String::new();
    let n = 26;
    for p in 0..n {
        h.push_str(&format!(
            "{{\"process\":{p},\"type\":\"invoke\",\"f\":\"write\",\"value\":{p}}}\n"
        ));
    }
    for p in 0..n {
        h.push_str(&format!(
            "{{\"process\":{},\"type\":\"invoke\",\"f\":\"read\",\"value\":null}}\n",
            p + 100
        ));
    }
    for p in 0..n {
        h.push_str(&format!(
            "{{\"process\":{p},\"type\":\"ok\",\"f\":\"write\",\"value\":{p}}}\n"
        ));
    }
    // Each reader saw a value; then 100 is written and a read returns the overwritten 5.
    for p in 0..n {
        h.push_str(&format!(
            "{{\"process\":{},\"type\":\"ok\",\"f\":\"read\",\"value\":{}}}\n",
            p + 100,
            (p * 7) % n
        ));
    }
    h.push_str("{\"process\":500,\"type\":\"invoke\",\"f\":\"write\",\"value\":100}\n{\"process\":500,\"type\":\"ok\",\"f\":\"write\",\"value\":100}\n");
    h.push_str("{\"process\":500,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{\"process\":500,\"type\":\"ok\",\"f\":\"read\",\"value\":5}\n");
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "hard.jsonl", &h);
    let (code, out, err) = faultline(&["check", "--time-limit", "0.05", &p]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("UNKNOWN") && out.contains("time limit"),
        "{out}"
    );
}

#[test]
fn html_artifact_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "stale.jsonl", STALE);
    let out_dir = dir.path().join("out");
    let (code, _, err) = faultline(&["check", &bad, "--out", out_dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let html = std::fs::read_to_string(out_dir.join("linearizability.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("class=\"op stuck"),
        "no failing bar"
    );
    assert!(html.contains("failure point"));
    // Nothing is loaded from elsewhere: no src/href attributes, no stylesheets, no imports.
    for outside in ["src=", "href=", "<link", "@import", "url("] {
        assert!(
            !html.contains(outside),
            "the page must not load anything ({outside})"
        );
    }
}

#[test]
fn imported_formats_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let edn = write(
        dir.path(),
        "h.edn",
        "; Knossos cas register\n[{:process 0 :type :invoke :f :write :value 1}\n {:process 0 :type :ok :f :write :value 1}\n {:process 1 :type :invoke :f :cas :value [1 2]}\n {:process 1 :type :info :f :cas :value [1 2] :error :timeout}\n {:process 2 :type :invoke :f :read :value nil}\n {:process 2 :type :ok :f :read :value 2}]\n",
    );
    let (code, out, err) = faultline(&["check", "--expect", "linearizable", &edn]);
    assert_eq!(code, 0, "{out}{err}");
    let log = write(
        dir.path(),
        "etcd.log",
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\tnil\n",
    );
    let (code, out, _) = faultline(&["check", "--format", "jepsen-log", &log]);
    assert_eq!(code, 1, "{out}");
    let kv = write(
        dir.path(),
        "kv.txt",
        "{:process 0, :type :invoke, :f :append, :key \"a\", :value \"x\"}\n{:process 0, :type :ok, :f :append, :key \"a\", :value \"x\"}\n{:process 0, :type :invoke, :f :get, :key \"a\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"a\", :value \"x\"}\n{:process 1, :type :invoke, :f :get, :key \"b\", :value nil}\n{:process 1, :type :ok, :f :get, :key \"b\", :value \"\"}\n",
    );
    let (code, out, err) = faultline(&["check", "--expect", "linearizable", &kv]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = faultline(&[
        "check",
        "--expect",
        "linearizable",
        "--model",
        "queueish",
        &kv,
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn porcupine_kv_histories_are_checked_for_linearizability_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let p = crate::util::write(
        dir.path(),
        "kv.txt",
        "{:process 0, :type :invoke, :f :put, :key \"1\", :value \"a\"}\n\
         {:process 0, :type :ok, :f :put, :key \"1\", :value \"a\"}\n\
         {:process 1, :type :invoke, :f :get, :key \"1\", :value nil}\n\
         {:process 1, :type :ok, :f :get, :key \"1\", :value \"\"}\n",
    );
    let (code, out, err) = crate::util::faultline(&["check", &p, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("\"expected\":[\"linearizable\"]"), "{out}");
    assert!(out.contains("nonlinearizable"), "{out}");
}

/// Process 1's cas from 1 fails right after 1 was written, and process 2 then reads nil.
const KNOSSOS_EDN: &str = r#"[{:process 0 :type :invoke :f :write :value 1}
 {:process 0 :type :ok :f :write :value 1}
 {:process 1 :type :invoke :f :cas :value [1 2]}
 {:process 1 :type :fail :f :cas :value [1 2] :error :precondition-failed}
 {:process 2 :type :invoke :f :read :value nil}
 {:process 2 :type :ok :f :read :value nil}]
"#;

#[test]
fn each_format_keeps_its_tools_meaning_of_fail_and_nil_and_options_choose() {
    let dir = tempfile::tempdir().unwrap();
    let edn = write(dir.path(), "k.edn", KNOSSOS_EDN);
    // Knossos: the fail never happened, the nil read constrains nothing: linearizable, and
    // the summary says whose conventions were used.
    let (code, out, err) = faultline(&["check", "--model", "cas-register", &edn]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("semantics: --fail-means nothing --nil-read any (Knossos's"),
        "{out}"
    );
    let (code, out, _) = faultline(&["check", "--json", "--model", "cas-register", &edn]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["expected"], serde_json::json!(["linearizable"]));
    let sem = &v["stats"]["semantics"];
    assert_eq!(sem["fail_means"], "nothing");
    assert_eq!(sem["nil_read"], "any");
    assert_eq!(sem["faultline_default"], false);
    // Each option alone makes one of the two observations count.
    for opt in [["--fail-means", "mismatch"], ["--nil-read", "value"]] {
        let (code, out, _) = faultline(&["check", opt[0], opt[1], "--model", "cas-register", &edn]);
        assert_eq!(code, 1, "{opt:?}: {out}");
        assert!(
            out.contains("as the options say") || out.contains("options and"),
            "{out}"
        );
    }
    // The same history in faultline's JSONL: the recorded mismatch observed the register,
    // and nil is a value; faultline's own conventions are not announced.
    let jsonl = write(
        dir.path(),
        "f.jsonl",
        r#"{"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":1,"type":"invoke","f":"cas","value":[1,2]}
{"process":1,"type":"fail","f":"cas","value":[1,2],"error":"precondition-failed"}
"#,
    );
    let out_dir = dir.path().join("out");
    let (code, out, _) = faultline(&["check", "--out", out_dir.to_str().unwrap(), &jsonl]);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("semantics:"), "{out}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["stats"]["semantics"]["fail_means"], "recorded");
    assert_eq!(results["stats"]["semantics"]["faultline_default"], true);
    // A cas that failed for another reason did not happen.
    let refused = write(
        dir.path(),
        "refused.jsonl",
        &std::fs::read_to_string(&jsonl)
            .unwrap()
            .replace("precondition-failed", "connect: connection refused"),
    );
    let (code, out, _) = faultline(&["check", &refused]);
    assert_eq!(code, 0, "{out}");
    let (code, _, _) = faultline(&["check", "--fail-means", "mismatch", &refused]);
    assert_eq!(code, 1);
    // An unknown choice is a usage error.
    let (code, _, err) = faultline(&["check", "--fail-means", "maybe", &jsonl]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn knossos_multi_register_and_mutex_histories_are_read_as_knossos_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    // `[:read k v]` / `[:write k v]` micro-ops, registers x and y starting at 0.
    let multi = write(
        dir.path(),
        "multi.edn",
        r#"[{:process 0 :type :invoke :f :txn :value [[:write :x 1] [:write :y 1]]}
 {:process 1 :type :invoke :f :txn :value [[:read :x nil] [:read :y nil]]}
 {:process 1 :type :ok :f :txn :value [[:read :x 0] [:read :y 0]]}
 {:process 0 :type :ok :f :txn :value [[:write :x 1] [:write :y 1]]}
 {:process 2 :type :invoke :f :txn :value [[:read :x nil] [:read :y nil]]}
 {:process 2 :type :ok :f :txn :value [[:read :x 1] [:read :y nil]]}]
"#,
    );
    let init = r#"{"x":0,"y":0}"#;
    let (code, out, err) = faultline(&[
        "check",
        "--model",
        "multi-register",
        "--initial",
        init,
        &multi,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // Half of the atomic write: not linearizable.
    let torn = write(
        dir.path(),
        "torn.edn",
        &std::fs::read_to_string(&multi)
            .unwrap()
            .replace("[:read :y nil]]}]", "[:read :y 0]]}]"),
    );
    let (code, out, _) = faultline(&[
        "check",
        "--model",
        "multi-register",
        "--initial",
        init,
        &torn,
    ]);
    assert_eq!(code, 1, "{out}");
    // A mutex history needs no --expect: acquire/release is a linearizability question.
    let mutex = write(
        dir.path(),
        "mutex.edn",
        r#"[{:process 0 :type :invoke :f :acquire}
 {:process 0 :type :ok :f :acquire}
 {:process 1 :type :invoke :f :release}
 {:process 1 :type :fail :f :release :error :not-held}
 {:process 1 :type :invoke :f :acquire}
 {:process 1 :type :ok :f :acquire}]
"#,
    );
    let (code, out, _) = faultline(&["check", &mutex]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("expected: linearizable") && out.contains("mutex model"),
        "{out}"
    );
}
