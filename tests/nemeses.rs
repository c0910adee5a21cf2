//! `faultline cleanup` after a harness was killed with SIGKILL mid-run: nothing of the run
//! (namespace, link, bridge, rule, process) is left behind.

use crate::util::{bin, etcd_present, faultline, is_root, prerequisite};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

static NETNS_SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

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

// ---- faults inside `faultline run` and against real `faultline node` replicas ----

fn events_of(run_root: &std::path::Path) -> (std::path::PathBuf, Vec<serde_json::Value>) {
    let mut dirs: Vec<_> = std::fs::read_dir(run_root)
        .unwrap()
        .flatten()
        .filter(|d| d.path().is_dir() && d.file_name() != "latest")
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|d| d.path())
        .filter(|p| p.join("history.jsonl").is_file())
        .collect();
    dirs.sort();
    let run_dir = dirs.pop().expect("a run directory with a history");
    let text = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    let events = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (run_dir, events)
}

/// Runs `faultline run` with faults and checks what every such run must show: nemesis
/// start/stop pairs in the history, every stop before the first final read, nothing left.
fn run_with_faults(net: &str, nemesis: &str) -> Vec<serde_json::Value> {
    let store = tempfile::tempdir().unwrap();
    let (code, out, err) = faultline(&[
        "run",
        "--store",
        store.path().to_str().unwrap(),
        "--time-limit",
        "4",
        "--nodes",
        "3",
        "--nemesis",
        nemesis,
        "--nemesis-interval",
        "0.5",
        "--net",
        net,
        "--seed",
        "7",
    ]);
    assert!(matches!(code, 0 | 1 | 3), "exit {code}\n{out}\n{err}");
    let (run_dir, events) = events_of(store.path());
    let nem: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["process"] == "nemesis")
        .collect();
    let starts = nem
        .iter()
        .filter(|e| e["type"] == "info" && e["f"].as_str().unwrap().starts_with("start-"))
        .count();
    let stops = nem
        .iter()
        .filter(|e| e["type"] == "info" && e["f"].as_str().unwrap().starts_with("stop-"))
        .count();
    assert!(starts >= 2, "too few faults: {nem:?}");
    assert_eq!(starts, stops, "every fault is healed: {nem:?}");
    assert!(
        nem.iter().all(|e| e["error"].is_null()),
        "a fault failed: {nem:?}"
    );
    let last_nemesis = nem
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .max()
        .unwrap();
    let first_final = events
        .iter()
        .filter(|e| e["phase"] == "final")
        .map(|e| e["index"].as_u64().unwrap())
        .min()
        .expect("final reads");
    assert!(
        last_nemesis < first_final,
        "final reads must follow the final heal"
    );
    // Every node is up for the final reads: a node the nemesis killed and restarted must
    // outlive the nemesis thread that restarted it.
    for node in ["1", "2", "3"] {
        assert!(
            events
                .iter()
                .any(|e| e["phase"] == "final" && e["node"] == node && e["type"] == "ok"),
            "node {node} answered no final read: {:?}",
            events
                .iter()
                .filter(|e| e["phase"] == "final" && e["node"] == node)
                .take(3)
                .collect::<Vec<_>>()
        );
    }
    assert!(
        ledger_outstanding(&run_dir).is_empty(),
        "left behind: {:?}",
        ledger_outstanding(&run_dir)
    );
    let ledger = std::fs::read_to_string(run_dir.join("nemesis-state.jsonl")).unwrap();
    for l in ledger.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v["op"] == "add" && v["resource"]["kind"] == "netns" {
            let name = v["resource"]["name"].as_str().unwrap().to_string();
            // The run prefix: `fl` + 6 hex.
            NETNS_SEEN.lock().unwrap().push(name[..8].to_string());
        }
    }
    nem.into_iter().cloned().collect()
}

#[test]
fn run_in_proxy_mode_injects_faults_into_the_history_and_heals_before_final_reads() {
    let nem = run_with_faults("proxy", "partition,pause,clock,latency,kill");
    assert!(nem.iter().any(|e| e["value"]["net"] == "proxy"), "{nem:?}");
}

#[test]
fn run_in_netns_mode_injects_faults_and_leaves_no_namespace() {
    if !prerequisite(is_root(), "root (network namespaces)") {
        return;
    }
    let nem = run_with_faults("netns", "partition,kill,pause,clock");
    assert!(nem.iter().any(|e| e["f"] == "start-partition"), "{nem:?}");
    // The namespaces the run created (named in its history's partition events) are gone.
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&netns.stdout).to_string();
    let drops = nem
        .iter()
        .find(|e| e["f"] == "start-partition" && e["type"] == "info")
        .unwrap();
    assert_eq!(drops["value"]["net"], "netns");
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout).to_string();
    for name in NETNS_SEEN.lock().unwrap().iter() {
        assert!(!listed.contains(name.as_str()), "namespace {name} left");
        assert!(!links.contains(name.as_str()), "link of {name} left");
    }
}

#[test]
fn run_refuses_faults_this_machine_cannot_inject_unless_allowed() {
    if !prerequisite(is_root(), "root (network namespaces)") {
        return;
    }
    // tc netem is missing on these machines; where it exists this check has nothing to show.
    let netem = Command::new("tc")
        .args(["qdisc", "add", "dev", "lo", "root", "netem"])
        .output();
    let _ = Command::new("tc")
        .args(["qdisc", "del", "dev", "lo", "root"])
        .output();
    if netem.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: this kernel has netem; latency in netns mode is supported here");
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let base = [
        "run",
        "--store",
        s,
        "--time-limit",
        "1",
        "--nemesis",
        "latency",
        "--net",
        "netns",
        "--nemesis-interval",
        "0.3",
    ];
    let (code, out, err) = faultline(&base);
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        err.contains("cannot inject `latency`") && err.contains("netem"),
        "{err}"
    );
    assert!(err.contains("--allow-missing-faults"), "{err}");
    let mut allowed = base.to_vec();
    allowed.push("--allow-missing-faults");
    let (code, out, err) = faultline(&allowed);
    assert!(matches!(code, 0 | 1 | 3), "{out}\n{err}");
    let (run_dir, events) = events_of(store.path());
    let rec = events
        .iter()
        .find(|e| e["f"] == "start-latency" && e["type"] == "info")
        .expect("the unsupported fault is recorded");
    assert!(rec["error"].as_str().unwrap().contains("netem"), "{rec}");
    assert!(ledger_outstanding(&run_dir).is_empty());
}

/// One `faultline node` replica on a loopback address, in its own process group.
fn start_node(dir: &std::path::Path, addr: &str) -> std::process::Child {
    let child = Command::new(bin())
        .args(["node", "--id", "1", "--mode", "eventual", "--listen", addr])
        .args(["--peers", &format!("1={addr}"), "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(std::time::Instant::now() < deadline, "node did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

fn post(addr: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, text) = nemeses::clock::post_json(
        addr.parse().unwrap(),
        path,
        body,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A free address on a loopback IP no other test uses (tests run in parallel, and a port
/// released by one test can be handed to another).
fn free_addr() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let ip = format!("127.77.{}.{}", std::process::id() % 250, k % 250 + 1);
    let l = std::net::TcpListener::bind((ip.as_str(), 0)).unwrap();
    l.local_addr().unwrap().to_string()
}

use std::os::unix::process::CommandExt;

#[test]
fn bumped_builtin_node_reports_the_skewed_clock() {
    use nemeses::clock::ClockSetter;
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut child = start_node(dir.path(), &addr);
    let clock = nemeses::clock::ControlApiClock::new([(1, addr.parse().unwrap())].into());
    clock.set_offset(1, -60_000).unwrap();
    let health = post(&addr, "/control/clock", r#"{"offset_ms": -60000}"#);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let skew = health["clock_ms"].as_i64().unwrap() - now_ms;
    assert_eq!(health["offset_ms"], -60_000);
    assert!((-61_000..=-59_000).contains(&skew), "skew {skew} ms");
    let _ = child.kill();
    let _ = child.wait();
}

struct OneNode {
    child: Option<std::process::Child>,
    dir: std::path::PathBuf,
    addr: String,
}

impl nemeses::process::NodeProcesses for OneNode {
    fn pid(&self, _node: usize) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
    fn restart(&mut self, _node: usize) -> Result<(), String> {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        self.child = Some(start_node(&self.dir, &self.addr));
        Ok(())
    }
}

#[test]
fn killed_builtin_node_comes_back_with_its_data_and_paused_one_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut node = OneNode {
        child: Some(start_node(dir.path(), &addr)),
        dir: dir.path().to_path_buf(),
        addr: addr.clone(),
    };
    post(
        &addr,
        "/kv/register",
        r#"{"f":"write","key":"x","value":42,"session":null}"#,
    );
    let pid = nemeses::process::kill(&node, 1).unwrap();
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "killed node answers"
    );
    nemeses::process::restart(&mut node, 1).unwrap();
    assert_ne!(node.child.as_ref().map(|c| c.id()), Some(pid));
    let r = post(
        &addr,
        "/kv/register",
        r#"{"f":"read","key":"x","value":null,"session":null}"#,
    );
    assert_eq!(r["value"], 42, "data lost across kill + restart: {r}");

    nemeses::process::pause(&node, 1).unwrap();
    let stalled = nemeses::clock::post_json(
        addr.parse().unwrap(),
        "/kv/register",
        r#"{"f":"read","key":"x","value":null,"session":null}"#,
        std::time::Duration::from_millis(800),
    );
    assert!(stalled.is_err(), "a paused node answered: {stalled:?}");
    nemeses::process::resume(&node, 1).unwrap();
    let r = post(
        &addr,
        "/kv/register",
        r#"{"f":"read","key":"x","value":null,"session":null}"#,
    );
    assert_eq!(r["value"], 42);
    if let Some(mut c) = node.child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Two `eventual` replicas that know each other, on loopback; returns (children, addrs).
fn eventual_pair(dir: &std::path::Path) -> (Vec<std::process::Child>, Vec<String>) {
    let addrs = [free_addr(), free_addr()];
    let peers = format!("1={},2={}", addrs[0], addrs[1]);
    let mut children = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let data = dir.join(format!("n{}", i + 1));
        std::fs::create_dir_all(&data).unwrap();
        children.push(
            Command::new(bin())
                .args(["node", "--id", &(i + 1).to_string(), "--mode", "eventual"])
                .args(["--listen", addr, "--peers", &peers, "--data-dir"])
                .arg(&data)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap(),
        );
    }
    for addr in &addrs {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "node did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    (children, addrs.to_vec())
}

fn local_read(addr: &str, key: &str) -> serde_json::Value {
    post(
        addr,
        "/kv/register",
        &format!(r#"{{"f":"read","key":"{key}","value":null,"session":null,"local":true}}"#),
    )["value"]
        .clone()
}

fn write(addr: &str, key: &str, v: i64) {
    let r = post(
        addr,
        "/kv/register",
        &format!(r#"{{"f":"write","key":"{key}","value":{v},"session":null}}"#),
    );
    assert_eq!(r["ok"], true, "write not acknowledged: {r}");
}

/// Polls until both replicas hold the same value for `key`; returns it.
fn converged(addrs: &[String], key: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (a, b) = (local_read(&addrs[0], key), local_read(&addrs[1], key));
        if a == b && !a.is_null() {
            return a;
        }
        assert!(std::time::Instant::now() < deadline, "{key}: {a} vs {b}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn clock_bump_makes_eventual_mode_lose_an_acknowledged_write() {
    use nemeses::clock::{ClockFault, Clocks, ControlApiClock};
    let dir = tempfile::tempdir().unwrap();
    let (mut children, addrs) = eventual_pair(dir.path());
    // Without skew, the later write wins everywhere.
    write(&addrs[1], "x", 1);
    assert_eq!(converged(&addrs, "x"), 1);
    write(&addrs[0], "x", 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while converged(&addrs, "x") != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the later write never won"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Bump node 1's clock a minute back through the nemesis clock API.
    let setter = ControlApiClock::new(
        addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (i + 1, a.parse().unwrap()))
            .collect(),
    );
    let mut clocks = Clocks::new(2, Box::new(setter));
    let offsets = clocks
        .apply(
            &ClockFault::Bump {
                nodes: vec![1],
                delta_ms: -60_000,
            },
            &mut history::sim::SplitMix64::new(1),
        )
        .unwrap();
    assert_eq!(offsets[&1], -60_000);
    write(&addrs[1], "y", 1);
    assert_eq!(converged(&addrs, "y"), 1);
    // Acknowledged, later in real time, and lost: node 1 stamps it a minute in the past.
    write(&addrs[0], "y", 2);
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(
        converged(&addrs, "y"),
        1,
        "the skewed write should lose LWW"
    );
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn etcd_call(addr: std::net::SocketAddr, path: &str, body: &str) -> Result<(u16, String), String> {
    nemeses::clock::post_json(addr, path, body, std::time::Duration::from_secs(3))
        .map_err(|e| e.to_string())
}

#[test]
fn isolated_etcd_member_serves_stale_serializable_reads_but_no_stale_linearizable_ones() {
    use nemeses::{Grudge, Net, NetConfig, NetMode, StateFile};
    if !prerequisite(is_root(), "root (network namespaces)") || !etcd_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = std::sync::Arc::new(StateFile::create(dir.path()).unwrap());
    let mut net = Net::setup(
        &NetConfig {
            nodes: 3,
            port: 2379,
            mode: NetMode::Netns,
            tag: nemeses::net::run_tag(dir.path()),
            seed: 3,
        },
        state.clone(),
    )
    .unwrap();
    let ip = |i: usize| net.listen_addr(i).ip();
    let initial: Vec<String> = (1..=3)
        .map(|i| format!("n{i}=http://{}:2380", ip(i)))
        .collect();
    let mut children = Vec::new();
    for i in 1..=3 {
        let mut cmd = Command::new("/usr/bin/etcd");
        let (client, peer) = (
            format!("http://{}:2379", ip(i)),
            format!("http://{}:2380", ip(i)),
        );
        cmd.args(["--name", &format!("n{i}"), "--data-dir"])
            .arg(dir.path().join(format!("n{i}.etcd")))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &initial.join(",")])
            .args([
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "fl-test",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        children.push(nemeses::process::spawn(&mut net.wrap(i, &cmd), &state).unwrap());
    }
    let put = |node: usize, v: &str| {
        etcd_call(
            net.client_addr(node),
            "/v3/kv/put",
            &format!(r#"{{"key":"eA==","value":"{v}"}}"#),
        )
    };
    let wait_put = |node: usize, v: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match put(node, v) {
                Ok((200, _)) => return,
                other => {
                    assert!(std::time::Instant::now() < deadline, "put {v}: {other:?}");
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            }
        }
    };
    let range = |node: usize, serializable: bool| {
        etcd_call(
            net.client_addr(node),
            "/v3/kv/range",
            &format!(r#"{{"key":"eA==","serializable":{serializable}}}"#),
        )
    };
    wait_put(1, "MQ=="); // x = "1"
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !range(3, true).is_ok_and(|(s, b)| s == 200 && b.contains("MQ==")) {
        assert!(std::time::Instant::now() < deadline, "node 3 never saw x=1");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // Isolate node 3; the majority {1, 2} (re-)elects a leader and accepts x = "2".
    net.partition(&Grudge::from_components(&[vec![1, 2], vec![3]]))
        .unwrap();
    wait_put(1, "Mg==");
    let stale = range(3, true).expect("a serializable read answers from local state");
    assert_eq!(stale.0, 200, "{stale:?}");
    assert!(
        stale.1.contains("MQ==") && !stale.1.contains("Mg=="),
        "the isolated member should serve the old value: {stale:?}"
    );
    let lin = range(3, false);
    assert!(
        !lin.as_ref().is_ok_and(|(s, _)| *s == 200),
        "a linearizable read on the isolated member must not succeed: {lin:?}"
    );

    net.heal().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !range(3, true).is_ok_and(|(s, b)| s == 200 && b.contains("Mg==")) {
        assert!(
            std::time::Instant::now() < deadline,
            "node 3 never caught up after heal"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    state.forget_dead_processes().unwrap();
    net.teardown().unwrap();
    let left = ledger_outstanding(dir.path());
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sigterm_during_a_partitioned_run_heals_and_removes_everything() {
    if !prerequisite(is_root(), "root (network namespaces)") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args(["run", "--store", store.path().to_str().unwrap()])
        .args([
            "--time-limit",
            "60",
            "--nemesis",
            "partition",
            "--partition",
            "majority",
        ])
        .args(["--nemesis-interval", "30", "--net", "netns", "--seed", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the partition is in place.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let run_dir = loop {
        assert!(std::time::Instant::now() < deadline, "no partition started");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let found = std::fs::read_dir(store.path())
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .map(|d| d.path())
            .find(|p| {
                std::fs::read_to_string(p.join("history.jsonl")).is_ok_and(|h| {
                    h.contains(r#""f":"start-partition""#) && h.contains(r#""drops""#)
                })
            });
        if let Some(p) = found {
            break p;
        }
    };
    let ns: Vec<String> = ledger_outstanding(&run_dir)
        .iter()
        .filter(|r| r["kind"] == "netns")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ns.len(), 3);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(matches!(status.code(), Some(0 | 1 | 3)), "{status:?}");
    let (_, events) = events_of(store.path());
    let stop = events
        .iter()
        .find(|e| e["f"] == "stop-partition" && e["type"] == "info")
        .expect("the partition was healed");
    let first_final = events
        .iter()
        .filter(|e| e["phase"] == "final")
        .filter_map(|e| e["index"].as_u64())
        .min()
        .unwrap();
    assert!(stop["index"].as_u64().unwrap() < first_final);
    assert!(
        ledger_outstanding(&run_dir).is_empty(),
        "{:?}",
        ledger_outstanding(&run_dir)
    );
    for n in ns {
        assert!(
            !std::path::Path::new("/run/netns").join(&n).exists(),
            "{n} left"
        );
    }
}

// ---- what the faults let the checkers see (needs the checkers for these models) ----

/// `faultline run` of the built-in store under faults; returns (exit code, --json result).
/// `None` when this build has no checker for the expected models (skipped loudly).
fn faulted_run(mode: &str, expect: &str, nemesis: &str) -> Option<(i32, serde_json::Value)> {
    let store = tempfile::tempdir().unwrap();
    let net = if is_root() { "netns" } else { "proxy" };
    let (code, out, err) = faultline(&[
        "run",
        "--store",
        store.path().to_str().unwrap(),
        "--mode",
        mode,
        "--expect",
        expect,
        "--time-limit",
        "8",
        "--seed",
        "4",
        "--nemesis",
        nemesis,
        "--nemesis-interval",
        "1",
        "--net",
        net,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("no JSON result ({e}): {out}\n{err}"));
    let nothing_checked = v["valid"] == "unknown" && v.to_string().contains("no analysis applies");
    if !prerequisite(
        !nothing_checked,
        &format!("a checker for {expect} in this build"),
    ) {
        return None;
    }
    Some((code, v))
}

#[test]
fn strong_mode_stays_strict_serializable_under_partitions_kills_pauses_and_skew() {
    let Some((code, v)) = faulted_run(
        "strong",
        "strict-serializable",
        "partition,kill,pause,clock",
    ) else {
        return;
    };
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["valid"], true, "{v}");
}

#[test]
fn session_mode_keeps_its_session_guarantees_under_faults() {
    let Some((code, v)) = faulted_run(
        "session",
        "read-your-writes,monotonic-reads",
        "partition,kill,pause,clock",
    ) else {
        return;
    };
    assert_eq!(code, 0, "{v}");
}

#[test]
fn eventual_mode_is_caught_breaking_session_guarantees_under_partitions_and_skew() {
    let Some((code, v)) = faulted_run(
        "eventual",
        "read-your-writes,monotonic-reads",
        "partition,clock",
    ) else {
        return;
    };
    assert_eq!(code, 1, "{v}");
    assert!(v.to_string().contains("read-your-writes"), "{v}");
}

/// etcd under an isolating partition, register workload checked for linearizability.
fn etcd_isolated_run(reads: &str) -> Option<(i32, serde_json::Value)> {
    let store = tempfile::tempdir().unwrap();
    let (code, out, err) = faultline(&[
        "run",
        "--store",
        store.path().to_str().unwrap(),
        "--target",
        "etcd",
        "--etcd-reads",
        reads,
        "--workload",
        "register",
        "--expect",
        "linearizable",
        "--time-limit",
        "14",
        "--seed",
        "4",
        // Short enough that the isolated member's worker gets past a stuck write to reads.
        "--op-timeout",
        "1",
        // The final reads are local reads on every member: give a member that was isolated
        // time to catch up after the final heal.
        "--settle",
        "5",
        "--nemesis",
        "partition",
        "--partition",
        "one",
        "--nemesis-interval",
        "5",
        "--net",
        "netns",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("no JSON result ({e}): {out}\n{err}"));
    let nothing_checked = v["valid"] == "unknown" && v.to_string().contains("no analysis applies");
    if !prerequisite(!nothing_checked, "a linearizability checker in this build") {
        return None;
    }
    Some((code, v))
}

#[test]
fn etcd_serializable_reads_are_caught_stale_under_an_isolating_partition_linearizable_ones_not() {
    if !prerequisite(is_root(), "root (network namespaces)") || !etcd_present() {
        return;
    }
    let Some((code, v)) = etcd_isolated_run("serializable") else {
        return;
    };
    assert_eq!(code, 1, "serializable reads should be caught: {v}");
    let Some((code, v)) = etcd_isolated_run("linearizable") else {
        return;
    };
    assert_eq!(code, 0, "linearizable reads should pass: {v}");
}

#[test]
fn clock_faults_on_etcd_are_refused_as_unsupported_and_recorded_when_allowed() {
    if !etcd_present() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let base = [
        "run",
        "--store",
        s,
        "--target",
        "etcd",
        "--workload",
        "register",
        "--time-limit",
        "1",
        "--nemesis",
        "clock",
        "--nemesis-interval",
        "0.3",
    ];
    let (code, out, err) = faultline(&base);
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        err.contains("cannot inject `clock`") && err.contains("Go"),
        "{err}"
    );
    let mut allowed = base.to_vec();
    allowed.push("--allow-missing-faults");
    let (code, out, err) = faultline(&allowed);
    assert!(matches!(code, 0 | 1 | 3), "{out}\n{err}");
    let (run_dir, events) = events_of(store.path());
    let rec = events
        .iter()
        .find(|e| e["f"] == "start-clock" && e["type"] == "info")
        .expect("the unsupported clock fault is recorded");
    assert!(rec["error"].as_str().unwrap().contains("Go"), "{rec}");
    assert_eq!(rec["value"]["unsupported"], true);
    assert!(ledger_outstanding(&run_dir).is_empty());
}

#[test]
fn sigterm_while_the_hosts_are_being_built_still_ends_in_a_clean_exit() {
    if !prerequisite(is_root(), "root (network namespaces)") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args(["run", "--store", store.path().to_str().unwrap()])
        .args([
            "--time-limit",
            "60",
            "--nodes",
            "5",
            "--nemesis",
            "partition",
        ])
        .args(["--net", "netns", "--seed", "6"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Signal as soon as the run has a ledger: namespaces are being created right now.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let run_dir = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no state file appeared"
        );
        let found = std::fs::read_dir(store.path())
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .map(|d| d.path())
            .find(|p| p.join("nemesis-state.jsonl").is_file());
        if let Some(p) = found {
            break p;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(
        matches!(status.code(), Some(0 | 1 | 3)),
        "the harness died instead of ending cleanly: {status:?}"
    );
    let text = std::fs::read_to_string(run_dir.join("nemesis-state.jsonl")).unwrap();
    assert!(ledger_outstanding(&run_dir).is_empty(), "{text}");
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v["resource"]["kind"] == "netns" {
            let name = v["resource"]["name"].as_str().unwrap();
            assert!(
                !std::path::Path::new("/run/netns").join(name).exists(),
                "{name} left"
            );
        }
    }
}
