//! `faultline node`: real 3-replica clusters of the built-in store as child processes on
//! loopback, driven over HTTP. Children are killed by pid when a test ends (Drop guard).

use crate::util::bin;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request with `Connection: close`; returns (status, JSON body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &Value) -> Result<(u16, Value), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(8)))
        .map_err(|e| e.to_string())?;
    let body = if method == "GET" {
        String::new()
    } else {
        body.to_string()
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out);
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status")?;
    let json = serde_json::from_str(rest).unwrap_or(Value::String(rest.to_string()));
    Ok((status, json))
}

fn post(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    http(addr, "POST", path, &body).unwrap_or_else(|e| panic!("POST {addr}{path}: {e}"))
}

fn ok(addr: SocketAddr, path: &str, body: Value) -> Value {
    let (code, v) = post(addr, path, body.clone());
    assert_eq!(code, 200, "POST {addr}{path} {body} -> {v}");
    v
}

fn free_addr(host: &str) -> SocketAddr {
    let l = TcpListener::bind((host, 0)).expect("bind a free port");
    l.local_addr().unwrap()
}

/// Sends a signal with the shell's builtin `kill` (no procps needed).
fn signal(pid: u32, sig: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("kill {sig} {pid}")])
        .status()
        .is_ok_and(|s| s.success())
}

struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    mode: &'static str,
    addrs: Vec<SocketAddr>,
    peers: String,
    children: Vec<Option<Child>>,
    stopped: Vec<bool>,
}

impl Cluster {
    /// Starts replicas 1..=3 on 127.0.0.<base+i>.
    fn start(mode: &'static str, base: u8) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let addrs: Vec<SocketAddr> = (1..=3)
            .map(|i| free_addr(&format!("127.0.0.{}", base + i)))
            .collect();
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Cluster {
            data: dir.path().to_path_buf(),
            _dir: dir,
            mode,
            addrs,
            peers,
            children: vec![None, None, None],
            stopped: vec![false; 3],
        };
        for i in 0..3 {
            c.spawn(i);
        }
        for i in 0..3 {
            c.wait_ready(i);
        }
        c
    }

    fn spawn(&mut self, i: usize) {
        let log = std::fs::File::create(self.data.join(format!("node{}.log", i + 1))).unwrap();
        let child = Command::new(bin())
            .args([
                "-v",
                "node",
                "--id",
                &(i + 1).to_string(),
                "--mode",
                self.mode,
            ])
            .arg("--listen")
            .arg(self.addrs[i].to_string())
            .args(["--peers", &self.peers])
            .arg("--data-dir")
            .arg(self.data.join(format!("n{}", i + 1)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn faultline node");
        self.children[i] = Some(child);
    }

    fn wait_ready(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok((200, _)) = http(self.addrs[i], "GET", "/control/health", &Value::Null) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("replica {} did not come up: {}", i + 1, self.log(i));
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.data.join(format!("node{}.log", i + 1))).unwrap_or_default()
    }

    fn pid(&self, i: usize) -> u32 {
        self.children[i].as_ref().expect("running").id()
    }

    fn stop(&mut self, i: usize) {
        assert!(signal(self.pid(i), "-STOP"), "SIGSTOP replica {}", i + 1);
        self.stopped[i] = true;
    }

    fn resume(&mut self, i: usize) {
        assert!(signal(self.pid(i), "-CONT"), "SIGCONT replica {}", i + 1);
        self.stopped[i] = false;
    }

    fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_ready(i);
    }

    fn health(&self, i: usize) -> Value {
        http(self.addrs[i], "GET", "/control/health", &Value::Null)
            .expect("health")
            .1
    }

    fn local_read(&self, i: usize, keys: &[&str]) -> Vec<Value> {
        let ops: Vec<Value> = keys.iter().map(|k| json!(["r", k, null])).collect();
        let v = ok(self.addrs[i], "/kv/txn", json!({"ops": ops, "local": true}));
        v["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o[2].clone())
            .collect()
    }

    /// Polls until every replica's local read of `keys` is equal; returns it.
    fn converged(&self, keys: &[&str]) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let reads: Vec<Vec<Value>> = (0..3).map(|i| self.local_read(i, keys)).collect();
            if reads.iter().all(|r| r == &reads[0]) {
                return reads[0].clone();
            }
            assert!(
                Instant::now() < deadline,
                "replicas never converged: {reads:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..3 {
            if let Some(c) = self.children[i].as_mut() {
                if self.stopped[i] {
                    signal(c.id(), "-CONT");
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn txn(ops: Value, session: &Value) -> Value {
    json!({"ops": ops, "session": session})
}

/// A short workload every mode must serve: appends, register ops and reads through the
/// session token, on different replicas.
fn serves_ops(mode: &'static str, base: u8) {
    let c = Cluster::start(mode, base);
    let mut session = Value::Null;
    for (i, v) in [1, 2, 3].into_iter().enumerate() {
        let r = ok(
            c.addrs[i],
            "/kv/txn",
            txn(json!([["append", "x", v], ["r", "x", null]]), &session),
        );
        let seen = r["ops"][1][2].as_array().cloned().unwrap_or_default();
        assert_eq!(
            seen.last(),
            Some(&json!(v)),
            "{mode}: a txn reads its own append: {r}"
        );
        session = r["session"].clone();
        if mode == "eventual" {
            // No session guarantees: let replication settle so the next replica's
            // read-modify-write sees this append (else last-writer-wins may drop one).
            c.converged(&["x"]);
        }
    }
    let w = ok(
        c.addrs[0],
        "/kv/register",
        json!({"f": "write", "key": "r", "value": 5, "session": session}),
    );
    assert_eq!(w["ok"], json!(true));
    session = w["session"].clone();
    let cas = ok(
        c.addrs[0],
        "/kv/register",
        json!({"f": "cas", "key": "r", "value": [4, 6], "session": session}),
    );
    assert_eq!(
        cas["ok"],
        json!(false),
        "{mode}: cas with a wrong expectation fails"
    );
    let cas = ok(
        c.addrs[0],
        "/kv/register",
        json!({"f": "cas", "key": "r", "value": [5, 6], "session": cas["session"]}),
    );
    assert_eq!(cas["ok"], json!(true), "{mode}: {cas}");
    session = cas["session"].clone();
    if mode != "eventual" {
        // Session guarantees hold on another replica when the token is carried.
        let r = ok(
            c.addrs[2],
            "/kv/register",
            json!({"f": "read", "key": "r", "session": session}),
        );
        assert_eq!(
            r["value"],
            json!(6),
            "{mode}: read-your-writes on replica 3: {r}"
        );
        let r = ok(
            c.addrs[1],
            "/kv/txn",
            txn(json!([["r", "x", null]]), &session),
        );
        assert_eq!(r["ops"][0][2], json!([1, 2, 3]), "{mode}: {r}");
    }
    // A transaction with a false cas precondition has no effect at all (bank transfers).
    let t = ok(
        c.addrs[0],
        "/kv/txn",
        txn(json!([["w", "a", 10], ["w", "b", 0]]), &session),
    );
    let t = ok(
        c.addrs[0],
        "/kv/txn",
        txn(
            json!([["cas", "a", [9, 5]], ["cas", "b", [0, 5]]]),
            &t["session"],
        ),
    );
    assert_eq!(t["ok"], json!(false), "{mode}: {t}");
    let t = ok(
        c.addrs[0],
        "/kv/txn",
        txn(
            json!([["cas", "a", [10, 5]], ["cas", "b", [0, 5]]]),
            &t["session"],
        ),
    );
    assert_eq!(t["ok"], json!(true), "{mode}: {t}");
    let t = ok(
        c.addrs[0],
        "/kv/txn",
        txn(json!([["r", "a", null], ["r", "b", null]]), &t["session"]),
    );
    assert_eq!(
        (t["ops"][0][2].clone(), t["ops"][1][2].clone()),
        (json!(5), json!(5)),
        "{mode}: {t}"
    );
    let (code, bad) = post(c.addrs[1], "/kv/txn", json!({"ops": [["frob", "x", 1]]}));
    assert_eq!((code, bad["definite"].clone()), (400, json!(true)), "{bad}");
    let final_reads = c.converged(&["x", "r", "a", "b"]);
    assert_eq!(final_reads[1], json!(6), "{mode}");
    assert_eq!(
        final_reads[0].as_array().map(|a| a.len()),
        Some(3),
        "{mode}: all appends survive without faults: {final_reads:?}"
    );
    let keys = c.health(0);
    assert_eq!(keys["mode"], json!(mode));
    let (_, k) = http(c.addrs[2], "GET", "/control/keys", &Value::Null).unwrap();
    assert_eq!(k["keys"], json!(["a", "b", "r", "x"]));
}

#[test]
fn strong_mode_serves_ops() {
    serves_ops("strong", 20);
}

#[test]
fn causal_mode_serves_ops() {
    serves_ops("causal", 30);
}

#[test]
fn session_mode_serves_ops() {
    serves_ops("session", 40);
}

#[test]
fn eventual_mode_serves_ops() {
    serves_ops("eventual", 50);
}

#[test]
fn strong_mode_is_unavailable_not_wrong_without_a_majority() {
    let mut c = Cluster::start("strong", 60);
    let p = c.addrs[0];
    ok(
        p,
        "/kv/register",
        json!({"f": "write", "key": "k", "value": 1}),
    );
    c.stop(2);
    let w = ok(
        p,
        "/kv/register",
        json!({"f": "write", "key": "k", "value": 2}),
    );
    assert_eq!(
        w["ok"],
        json!(true),
        "one of three paused: still a majority"
    );
    let r = ok(p, "/kv/register", json!({"f": "read", "key": "k"}));
    assert_eq!(r["value"], json!(2));
    c.stop(1);
    let (code, e) = post(
        p,
        "/kv/register",
        json!({"f": "write", "key": "k", "value": 3}),
    );
    assert_eq!(code, 504, "{e}");
    assert_eq!(
        e["definite"],
        json!(false),
        "appended on the primary only: indeterminate"
    );
    for _ in 0..2 {
        let (code, e) = post(p, "/kv/register", json!({"f": "read", "key": "k"}));
        assert_eq!(
            (code, e["definite"].clone()),
            (503, json!(true)),
            "no wrong value: {e}"
        );
        let (code, e) = post(p, "/kv/txn", json!({"ops": [["append", "l", 1]]}));
        assert_eq!((code, e["definite"].clone()), (503, json!(true)), "{e}");
    }
    // The local (uncoordinated) view never showed the unreplicated write.
    assert_eq!(c.local_read(0, &["k"]), vec![json!(2)]);
    c.resume(1);
    c.resume(2);
    // Without any new operation, the primary commits the pending write once healed, so the
    // replicas' own states agree (final reads see no divergence).
    assert_eq!(c.converged(&["k"]), vec![json!(3)]);
    // The indeterminate write is committed first, in log order, then the read sees it.
    let r = ok(p, "/kv/register", json!({"f": "read", "key": "k"}));
    assert_eq!(r["value"], json!(3), "{r}");
    let (code, l) = post(p, "/kv/txn", json!({"ops": [["r", "l", null]]}));
    assert_eq!(
        (code, l["ops"][0][2].clone()),
        (200, Value::Null),
        "refused append never applied: {l}"
    );
}

#[test]
fn killed_replicas_restart_with_their_data() {
    let mut c = Cluster::start("strong", 70);
    for v in 1..=5 {
        ok(c.addrs[1], "/kv/txn", json!({"ops": [["append", "x", v]]}));
    }
    c.kill9(0);
    c.kill9(2);
    c.restart(0);
    c.restart(2);
    let r = ok(c.addrs[0], "/kv/txn", json!({"ops": [["r", "x", null]]}));
    assert_eq!(r["ops"][0][2], json!([1, 2, 3, 4, 5]), "{r}");
    assert_eq!(c.local_read(2, &["x"]), vec![json!([1, 2, 3, 4, 5])]);
    assert_eq!(c.health(0)["log_len"], json!(5));
    ok(c.addrs[0], "/kv/txn", json!({"ops": [["append", "x", 6]]}));
    assert_eq!(c.converged(&["x"]), vec![json!([1, 2, 3, 4, 5, 6])]);
}

#[test]
fn causal_mode_never_shows_an_effect_without_its_cause() {
    let mut c = Cluster::start("causal", 80);
    c.stop(2);
    // x on replica 1, then (having read x) y on replica 2: y depends on x.
    let w = ok(
        c.addrs[0],
        "/kv/txn",
        txn(json!([["w", "x", 1]]), &Value::Null),
    );
    let r = ok(
        c.addrs[1],
        "/kv/txn",
        txn(json!([["r", "x", null], ["w", "y", 2]]), &w["session"]),
    );
    assert_eq!(
        r["ops"][0][2],
        json!(1),
        "the token made replica 2 wait for x: {r}"
    );
    c.resume(2);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let seen = c.local_read(2, &["x", "y"]);
        if seen[1] == json!(2) {
            assert_eq!(seen[0], json!(1), "replica 3 shows y without x: {seen:?}");
            break;
        }
        assert!(Instant::now() < deadline, "replica 3 never received y");
    }
    // A session token from replica 3 carried to replica 1 keeps monotonic reads.
    let t = ok(
        c.addrs[2],
        "/kv/txn",
        txn(json!([["r", "y", null]]), &Value::Null),
    );
    let again = ok(
        c.addrs[0],
        "/kv/txn",
        txn(json!([["r", "y", null]]), &t["session"]),
    );
    assert_eq!(again["ops"][0][2], json!(2));
}

#[test]
fn eventual_mode_converges_and_skewed_lww_loses_an_acknowledged_append() {
    let c = Cluster::start("eventual", 90);
    let h = ok(c.addrs[1], "/control/clock", json!({"offset_ms": -60000}));
    assert_eq!(h["offset_ms"], json!(-60000));
    let skew =
        c.health(0)["clock_ms"].as_i64().unwrap() - c.health(1)["clock_ms"].as_i64().unwrap();
    assert!(
        (59_000..61_000).contains(&skew),
        "replica 2's clock is a minute behind: {skew}"
    );
    ok(c.addrs[0], "/kv/txn", json!({"ops": [["append", "x", 1]]}));
    assert_eq!(c.converged(&["x"]), vec![json!([1])]);
    // Replica 2 reads [1], appends 2 and acknowledges; its stamp is a minute older, so it loses.
    let r = ok(
        c.addrs[1],
        "/kv/txn",
        json!({"ops": [["append", "x", 2], ["r", "x", null]]}),
    );
    assert_eq!(
        r["ops"][1][2],
        json!([1]),
        "LWW drops the late-stamped append at once: {r}"
    );
    for (i, v) in [(0, 10), (1, 20), (2, 30)] {
        ok(
            c.addrs[i],
            "/kv/register",
            json!({"f": "write", "key": "k", "value": v}),
        );
    }
    let done = c.converged(&["x", "k"]);
    assert_eq!(
        done[0],
        json!([1]),
        "the acknowledged append 2 is lost: {done:?}"
    );
    assert!(
        done[1] == json!(10) || done[1] == json!(30),
        "replica 2's write loses: {done:?}"
    );
}

/// Concurrent clients through all three replicas: every successful cas must have read the value
/// it replaced (the counter equals the number of successes), and every list read must be a
/// prefix of the final list, which holds each acknowledged append exactly once.
fn concurrent_ops_are_serial(mode: &'static str, base: u8) {
    let c = Cluster::start(mode, base);
    let init = ok(
        c.addrs[0],
        "/kv/register",
        json!({"f": "write", "key": "n", "value": 0}),
    );
    let addrs = c.addrs.clone();
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let addrs = addrs.clone();
            // Each worker's session starts after the initial write.
            let mut session = init["session"].clone();
            std::thread::spawn(move || {
                let (mut wins, mut appended, mut reads) = (0, Vec::new(), Vec::new());
                for i in 0..25 {
                    let a = addrs[(w + i) % 3];
                    let r = ok(a, "/kv/register", json!({"f": "read", "key": "n", "session": session}));
                    let n = r["value"].as_i64().unwrap();
                    let r = ok(a, "/kv/register", json!({"f": "cas", "key": "n", "value": [n, n + 1], "session": r["session"]}));
                    if r["ok"] == json!(true) {
                        wins += 1;
                    }
                    let v = w * 1000 + i;
                    let r = ok(a, "/kv/txn", json!({"ops": [["append", "l", v], ["r", "l", null]], "session": r["session"]}));
                    appended.push(json!(v));
                    reads.push(r["ops"][1][2].clone());
                    session = r["session"].clone();
                }
                (wins, appended, reads)
            })
        })
        .collect();
    let (mut wins, mut appended, mut reads) = (0, Vec::new(), Vec::new());
    for w in workers {
        let (a, b, c) = w.join().expect("worker");
        wins += a;
        appended.extend(b);
        reads.extend(c);
    }
    let r = ok(
        c.addrs[0],
        "/kv/txn",
        json!({"ops": [["r", "n", null], ["r", "l", null]]}),
    );
    assert_eq!(
        r["ops"][0][2],
        json!(wins),
        "{mode}: a cas succeeded on a stale value"
    );
    let fin = r["ops"][1][2].as_array().cloned().unwrap();
    let mut sorted = fin.clone();
    sorted.sort_by_key(|v| v.as_i64());
    sorted.dedup();
    appended.sort_by_key(|v| v.as_i64());
    assert_eq!(sorted.len(), fin.len(), "{mode}: duplicate elements");
    assert_eq!(sorted, appended, "{mode}: acknowledged appends missing");
    for read in reads {
        let read = read.as_array().cloned().unwrap();
        assert_eq!(
            &fin[..read.len()],
            &read[..],
            "{mode}: a read is not a prefix of the final list"
        );
    }
}

#[test]
fn strong_mode_concurrent_ops_are_serial() {
    concurrent_ops_are_serial("strong", 100);
}

#[test]
fn session_mode_concurrent_writes_are_serial_at_the_primary() {
    concurrent_ops_are_serial("session", 110);
}

#[test]
fn sigterm_stops_a_replica_cleanly() {
    let mut c = Cluster::start("session", 120);
    let pid = c.pid(1);
    assert!(signal(pid, "-TERM"));
    let mut child = c.children[1].take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}: {}", c.log(1));
            break;
        }
        assert!(Instant::now() < deadline, "replica ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_node_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (code, _, err) = crate::util::faultline(&[
        "node",
        "--id",
        "9",
        "--listen",
        "127.0.0.1:1",
        "--peers",
        "1=127.0.0.1:2",
        "--data-dir",
        &d,
    ]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("own id `9`"), "{err}");
    let (code, _, err) = crate::util::faultline(&[
        "node",
        "--id",
        "1",
        "--mode",
        "fast",
        "--listen",
        "127.0.0.1:1",
        "--peers",
        "1=127.0.0.1:2",
        "--data-dir",
        &d,
    ]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("unknown mode `fast`"), "{err}");
    // A corrupt log record in the middle stops the replica with the file and line.
    std::fs::write(
        dir.path().join("log.jsonl"),
        "{\"index\":1,\"ops\":[]}\ngarbage\n{}\n",
    )
    .unwrap();
    let addr = free_addr("127.0.0.1").to_string();
    let peers = format!("1={addr}");
    let (code, _, err) = crate::util::faultline(&[
        "node",
        "--id",
        "1",
        "--listen",
        &addr,
        "--peers",
        &peers,
        "--data-dir",
        &d,
    ]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("log.jsonl:2"), "{err}");
}

/// Writes acknowledged by one replica survive its SIGKILL (they were fsynced) in the
/// multi-writer modes, and the cluster converges afterwards.
fn local_writes_survive_kill9(mode: &'static str, base: u8) {
    let mut c = Cluster::start(mode, base);
    let mut session = Value::Null;
    for v in 1..=5 {
        let r = ok(
            c.addrs[0],
            "/kv/txn",
            txn(json!([["append", "x", v]]), &session),
        );
        session = r["session"].clone();
    }
    c.kill9(0);
    c.restart(0);
    assert_eq!(c.local_read(0, &["x"]), vec![json!([1, 2, 3, 4, 5])]);
    assert_eq!(c.health(0)["log_len"], json!(5));
    ok(
        c.addrs[0],
        "/kv/txn",
        txn(json!([["append", "x", 6]]), &session),
    );
    assert_eq!(c.converged(&["x"]), vec![json!([1, 2, 3, 4, 5, 6])]);
}

#[test]
fn causal_mode_writes_survive_kill9() {
    local_writes_survive_kill9("causal", 130);
}

#[test]
fn eventual_mode_writes_survive_kill9() {
    local_writes_survive_kill9("eventual", 140);
}

/// Replica 3 misses writes while paused, and their origin (replica 1) is paused when 3 comes
/// back: 3 must still get them, relayed by replica 2 (anti-entropy), together with the
/// concurrent appends of both writers.
fn relayed_after_heal(mode: &'static str, base: u8) {
    let mut c = Cluster::start(mode, base);
    c.stop(2);
    for v in 0..5 {
        ok(c.addrs[0], "/kv/txn", json!({"ops": [["append", "a", v]]}));
        ok(c.addrs[1], "/kv/txn", json!({"ops": [["append", "b", v]]}));
    }
    ok(
        c.addrs[0],
        "/kv/register",
        json!({"f": "write", "key": "r", "value": 1}),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.local_read(1, &["r"]) != vec![json!(1)] {
        assert!(Instant::now() < deadline, "replica 2 never got r");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.stop(0);
    c.resume(2);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (r2, r3) = (
            c.local_read(1, &["a", "b", "r"]),
            c.local_read(2, &["a", "b", "r"]),
        );
        if r2 == r3 {
            assert_eq!(r3[2], json!(1), "{mode}: {r3:?}");
            assert_eq!(r3[0], json!([0, 1, 2, 3, 4]), "{mode}: {r3:?}");
            assert_eq!(r3[1], json!([0, 1, 2, 3, 4]), "{mode}: {r3:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{mode}: replica 3 never caught up: {r2:?} {r3:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.resume(0);
}

#[test]
fn causal_mode_relays_missed_events_after_heal() {
    relayed_after_heal("causal", 150);
}

#[test]
fn eventual_mode_relays_missed_values_after_heal() {
    relayed_after_heal("eventual", 160);
}
