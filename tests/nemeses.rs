//! `faultline cleanup` after a harness was killed with SIGKILL mid-run: nothing of the run
//! (namespace, link, bridge, rule, process) is left behind.

use crate::util::{bin, faultline, is_root, prerequisite};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn ledger_outstanding(run_dir: &std::path::Path) -> Vec<serde_json::Value> {
    // Replays the state file: adds minus removes.
    let text = std::fs::read_to_string(run_dir.join("nemesis-state.jsonl")).unwrap();
    let mut out: Vec<serde_json::Value> = Vec::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        match v["op"].as_str() {
            Some("add") => out.push(v["resource"].clone()),
            Some("remove") => out.retain(|r| *r != v["resource"]),
            _ => {}
        }
    }
    out
}

/// Starts `faultline net-hold` for a run under `store/`, waits for `ready`, kills it with
/// SIGKILL, and returns the run directory.
fn killed_harness(store: &std::path::Path, net: &str) -> std::path::PathBuf {
    let run_dir = store.join("demo").join("20260101T000000");
    let mut child = Command::new(bin())
        .args([
            "net-hold",
            "--nodes",
            "3",
            "--net",
            net,
            "--partition",
            "one",
            "--run-dir",
        ])
        .arg(&run_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "helper did not get ready");
    child.kill().unwrap(); // SIGKILL: no destructor, no heal.
    child.wait().unwrap();
    run_dir
}

fn sleeper_pids(run_dir: &std::path::Path) -> Vec<u32> {
    ledger_outstanding(run_dir)
        .iter()
        .filter(|r| r["kind"] == "process")
        .map(|r| r["pid"].as_u64().unwrap() as u32)
        .collect()
}

fn proc_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

#[test]
fn cleanup_after_sigkill_leaves_no_namespace_link_rule_or_process() {
    if !prerequisite(is_root(), "root (network namespaces)") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let run_dir = killed_harness(store.path(), "netns");
    let left = ledger_outstanding(&run_dir);
    let ns: Vec<String> = left
        .iter()
        .filter(|r| r["kind"] == "netns")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ns.len(), 3, "{left:?}");
    let prefix = ns[0][..8].to_string();
    let pids = sleeper_pids(&run_dir);
    assert_eq!(pids.len(), 1);
    // The kill really left things behind: namespaces, links, the process, our DROP rules.
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&netns.stdout).contains(&prefix));
    assert!(proc_alive(pids[0]));
    let rules = Command::new("ip")
        .args(["netns", "exec", &ns[0], "iptables", "-S"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&rules.stdout).contains("-j faultline"));

    let (code, out, err) = faultline(&["cleanup", "--store", store.path().to_str().unwrap()]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("removed network namespace"), "{out}");
    assert!(out.contains("removed process"), "{out}");

    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(&prefix),
        "namespace left"
    );
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(&prefix),
        "link left"
    );
    assert!(!proc_alive(pids[0]), "process {} left", pids[0]);
    assert!(ledger_outstanding(&run_dir).is_empty());

    // A second cleanup finds nothing to do.
    let (code, out, _) = faultline(&["cleanup", "--store", store.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(!out.contains("removed"), "{out}");
}

#[test]
fn cleanup_after_sigkill_in_proxy_mode_kills_the_node_process() {
    let store = tempfile::tempdir().unwrap();
    let run_dir = killed_harness(store.path(), "proxy");
    let pids = sleeper_pids(&run_dir);
    assert_eq!(pids.len(), 1);
    assert!(proc_alive(pids[0]));
    let (code, out, err) = faultline(&["cleanup", "--store", store.path().to_str().unwrap()]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(!proc_alive(pids[0]), "process left: {out}");
    assert!(ledger_outstanding(&run_dir).is_empty(), "{out}");
}

#[test]
fn cleanup_leaves_a_live_run_alone_and_reports_bad_state_files() {
    let store = tempfile::tempdir().unwrap();
    let run = store.path().join("t").join("r1");
    std::fs::create_dir_all(&run).unwrap();
    // Owned by this (live) test process, with an outstanding file.
    let me = std::process::id();
    let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
    let start: u64 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    let f = run.join("keep-me");
    std::fs::write(&f, "x").unwrap();
    std::fs::write(
        run.join("nemesis-state.jsonl"),
        format!(
            "{{\"op\":\"owner\",\"pid\":{me},\"start_time\":{start}}}\n{{\"op\":\"add\",\"resource\":{{\"kind\":\"file\",\"path\":{:?}}}}}\n",
            f.display().to_string()
        ),
    )
    .unwrap();
    let (code, out, _) = faultline(&["cleanup", "--store", store.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("still in progress"), "{out}");
    assert!(f.exists());

    let bad = store.path().join("t").join("r2");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("nemesis-state.jsonl"), "not json\n{}\n").unwrap();
    let (code, _, err) = faultline(&["cleanup", "--store", store.path().to_str().unwrap()]);
    assert_eq!(code, 4);
    assert!(err.contains("nemesis-state.jsonl:1:"), "{err}");
}
