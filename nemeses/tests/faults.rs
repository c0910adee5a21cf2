//! The faults on real traffic: TCP echo servers inside namespaces (or behind the link proxy),
//! real processes paused and killed, a real program under libfaketime.

use nemeses::clock::{ClockSetter, Clocks, FaketimeClock, UnsupportedClock};
use nemeses::net::{Net, NetConfig, NetMode};
use nemeses::process::{self, NodeProcesses};
use nemeses::schedule::{FaultKind, Nemesis, NemesisConfig};
use nemeses::state::{self, StateFile};
use nemeses::{sys, Grudge};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Same convention as the binary's tests/util.rs: skip loudly, or fail under
/// FAULTLINE_REQUIRE_ALL=1.
fn prerequisite(present: bool, what: &str) -> bool {
    if present {
        return true;
    }
    if std::env::var("FAULTLINE_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("prerequisite missing and FAULTLINE_REQUIRE_ALL=1: {what}");
    }
    eprintln!("SKIPPED: {what}");
    false
}

fn root_with_tools() -> bool {
    prerequisite(
        sys::is_root() && sys::have("ip") && sys::have("iptables"),
        "root with ip and iptables (network namespaces)",
    )
}

/// Serves TCP echo on `listener` forever (one thread per connection).
fn serve_echo(listener: TcpListener) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

/// One echo round trip on `s`, or the error (a timeout when bytes vanish).
fn echo(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_millis(1500)))?;
    s.write_all(msg)?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got)?;
    assert_eq!(got, msg);
    Ok(())
}

fn connect_from(net: &Net, from: usize, to: SocketAddr) -> std::io::Result<TcpStream> {
    match net {
        Net::Netns(n) => sys::in_netns(&n.ns_name(from), move || {
            TcpStream::connect_timeout(&to, Duration::from_millis(1500))
        })
        .expect("enter namespace"),
        Net::Proxy(_) => TcpStream::connect_timeout(&to, Duration::from_millis(1500)),
    }
}

/// Starts an echo server at each node's listen address (inside its namespace when there is one).
fn echo_servers(net: &Net) {
    for node in 1..=net.nodes() {
        let addr = net.listen_addr(node);
        let l = match net {
            Net::Netns(n) => sys::in_netns(&n.ns_name(node), move || TcpListener::bind(addr))
                .unwrap()
                .unwrap(),
            Net::Proxy(_) => TcpListener::bind(addr).unwrap(),
        };
        serve_echo(l);
    }
}

fn partition_cuts_and_heal_restores(mode: NetMode) {
    let dir = tempfile::tempdir().unwrap();
    let st = Arc::new(StateFile::create(dir.path()).unwrap());
    let cfg = NetConfig {
        nodes: 3,
        port: 7001,
        mode,
        tag: nemeses::net::run_tag(dir.path()),
        seed: 1,
    };
    let mut net = Net::setup(&cfg, st.clone()).unwrap();
    echo_servers(&net);
    // Before: node 1 reaches node 2, and an established connection 1 -> 2 carries bytes.
    let mut old = connect_from(&net, 1, net.peer_addr(1, 2)).unwrap();
    echo(&mut old, b"before").unwrap();

    // Isolate node 1 from {2, 3}.
    net.partition(&Grudge::from_components(&[vec![1], vec![2, 3]]))
        .unwrap();
    let cut = connect_from(&net, 1, net.peer_addr(1, 2)).and_then(|mut s| echo(&mut s, b"cut"));
    assert!(
        cut.is_err(),
        "a new connection across the cut must not carry bytes"
    );
    let e = echo(&mut old, b"during").unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "the established connection must time out (DROP, not reset): {e}"
    );
    let mut same_side = connect_from(&net, 2, net.peer_addr(2, 3)).unwrap();
    echo(&mut same_side, b"same side").unwrap();
    // Clients still reach every node.
    let mut client =
        TcpStream::connect_timeout(&net.client_addr(1), Duration::from_secs(2)).unwrap();
    echo(&mut client, b"client").unwrap();

    net.heal().unwrap();
    let mut healed = connect_from(&net, 1, net.peer_addr(1, 2)).unwrap();
    echo(&mut healed, b"healed").unwrap();

    net.teardown().unwrap();
    let ledger = state::read(st.path()).unwrap();
    assert!(
        ledger.outstanding.is_empty(),
        "left behind: {:?}",
        ledger.outstanding
    );
    if let Net::Netns(n) = &net {
        let names = sys::run("ip", &["netns", "list"]).unwrap();
        assert!(!names.contains(&n.prefix), "namespaces left: {names}");
        let links = sys::run("ip", &["-o", "link"]).unwrap();
        assert!(!links.contains(&n.prefix), "links left: {links}");
    }
}

#[test]
fn netns_partition_cuts_tcp_and_heal_restores_it() {
    if !root_with_tools() {
        return;
    }
    partition_cuts_and_heal_restores(NetMode::Netns);
}

#[test]
fn proxy_blackhole_cuts_tcp_and_heal_restores_it() {
    partition_cuts_and_heal_restores(NetMode::Proxy);
}

#[test]
fn one_way_partition_blocks_only_one_direction_in_netns() {
    if !root_with_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let net = setup_net(dir.path(), 2, 7002, NetMode::Netns, 1);
    echo_servers(&net);
    // `1>2`: node 2 drops what node 1 sends. TCP needs both directions, so a TCP connection
    // fails either way; datagrams show the asymmetry: 2 -> 1 arrives, 1 -> 2 vanishes.
    let g = nemeses::grudge::grudge(
        &"1>2".parse().unwrap(),
        2,
        None,
        &mut history::sim::SplitMix64::new(1),
    )
    .unwrap();
    net.partition(&g).unwrap();
    let ns = |i: usize| format!("{}n{i}", net_prefix(&net));
    let udp = |from: usize, to: usize| -> bool {
        let to_addr = SocketAddr::new(net.listen_addr(to).ip(), 7102);
        let rx = sys::in_netns(&ns(to), move || std::net::UdpSocket::bind(to_addr))
            .unwrap()
            .unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let from_ip = net.listen_addr(from).ip();
        let tx = sys::in_netns(&ns(from), move || std::net::UdpSocket::bind((from_ip, 0)))
            .unwrap()
            .unwrap();
        tx.send_to(b"ping", to_addr).unwrap();
        let mut buf = [0u8; 8];
        rx.recv(&mut buf).is_ok()
    };
    assert!(udp(2, 1), "2 -> 1 must still arrive");
    assert!(!udp(1, 2), "1 -> 2 must be dropped");
    let rules_2 = sys::run_in(
        &format!("{}n2", net_prefix(&net)),
        "iptables",
        &["-S", "faultline"],
    )
    .unwrap();
    let rules_1 = sys::run_in(
        &format!("{}n1", net_prefix(&net)),
        "iptables",
        &["-S", "faultline"],
    )
    .unwrap();
    assert!(rules_2.contains("-j DROP"), "{rules_2}");
    assert!(!rules_1.contains("-j DROP"), "{rules_1}");
    assert!(connect_from(&net, 1, net.peer_addr(1, 2))
        .and_then(|mut s| echo(&mut s, b"x"))
        .is_err());
    net.heal().unwrap();
    echo(
        &mut connect_from(&net, 1, net.peer_addr(1, 2)).unwrap(),
        b"y",
    )
    .unwrap();
}

fn net_prefix(net: &Net) -> String {
    match net {
        Net::Netns(n) => n.prefix.clone(),
        Net::Proxy(_) => String::new(),
    }
}

#[test]
fn proxy_latency_delays_round_trips_and_clears() {
    let dir = tempfile::tempdir().unwrap();
    let net = setup_net(dir.path(), 2, 7003, NetMode::Proxy, 5);
    echo_servers(&net);
    net.set_link_faults(
        &[2],
        nemeses::proxy::LinkFaults {
            delay_ms: 300,
            jitter_ms: 0,
            loss: 0.0,
        },
    )
    .unwrap();
    let mut s = TcpStream::connect(net.peer_addr(1, 2)).unwrap();
    let t = Instant::now();
    echo(&mut s, b"slow").unwrap();
    // Both directions pass the delayed link: at least two delays.
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    net.clear_link_faults().unwrap();
    assert!(net.latency_support().is_ok());
}

/// A node process for the pause/kill tests: this test binary re-executed as a TCP echo
/// server (see `echo_server_process`), a real separate process with threads.
struct EchoProcs {
    port: u16,
    children: Mutex<Vec<Option<Child>>>,
    state: Arc<StateFile>,
}

/// A loopback address of its own, so no parallel test is handed the same port.
const ECHO_IP: &str = "127.66.0.1";

/// Not a test: when the test binary is re-executed with FAULTLINE_ECHO_PORT set, this serves
/// TCP echo on that port until killed.
#[test]
fn echo_server_process() {
    let Ok(port) = std::env::var("FAULTLINE_ECHO_PORT") else {
        return;
    };
    let l = TcpListener::bind((ECHO_IP, port.parse::<u16>().unwrap())).unwrap();
    serve_echo(l);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

impl EchoProcs {
    fn start(&self) -> Child {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "echo_server_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FAULTLINE_ECHO_PORT", self.port.to_string())
        .stdout(Stdio::null())
        .stdin(Stdio::null());
        let child = process::spawn(&mut cmd, &self.state).unwrap();
        wait_listening(self.port);
        child
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect((ECHO_IP, port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("echo server on port {port} did not come up");
}

impl NodeProcesses for EchoProcs {
    fn pid(&self, node: usize) -> Option<u32> {
        self.children.lock().unwrap()[node - 1]
            .as_ref()
            .map(|c| c.id())
    }
    fn restart(&mut self, node: usize) -> Result<(), String> {
        let old = self.children.lock().unwrap()[node - 1].take();
        if let Some(mut c) = old {
            let _ = c.wait();
        }
        let c = self.start();
        self.children.lock().unwrap()[node - 1] = Some(c);
        Ok(())
    }
}

impl Drop for EchoProcs {
    fn drop(&mut self) {
        for c in self.children.lock().unwrap().iter_mut().flatten() {
            let _ = sys::signal_group(c.id(), libc_sigcont());
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn libc_sigcont() -> i32 {
    18
}

fn free_port() -> u16 {
    TcpListener::bind((ECHO_IP, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn paused_process_stops_answering_and_resumes_killed_one_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let st = Arc::new(StateFile::create(dir.path()).unwrap());
    let mut procs = EchoProcs {
        port: free_port(),
        children: Mutex::new(vec![None]),
        state: st.clone(),
    };
    let c = procs.start();
    procs.children.lock().unwrap()[0] = Some(c);
    let mut s = TcpStream::connect((ECHO_IP, procs.port)).unwrap();
    echo(&mut s, b"hello").unwrap();

    process::pause(&procs, 1).unwrap();
    let e = echo(&mut s, b"paused").unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    process::resume(&procs, 1).unwrap();
    // The bytes sent while paused are answered once it runs again.
    let mut got = [0u8; 6];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"paused");

    let pid = process::kill(&procs, 1).unwrap();
    assert!(!sys::alive(pid));
    assert!(
        TcpStream::connect((ECHO_IP, procs.port)).is_err(),
        "killed node still answers"
    );
    process::restart(&mut procs, 1).unwrap();
    let mut s2 = TcpStream::connect((ECHO_IP, procs.port)).unwrap();
    echo(&mut s2, b"back").unwrap();
    assert_ne!(procs.pid(1), Some(pid));
}

#[test]
fn program_under_libfaketime_sees_the_offset_we_write() {
    let lib = std::path::Path::new(nemeses::clock::LIBFAKETIME);
    if !prerequisite(
        lib.exists(),
        "libfaketime (apt-get install faketime libfaketime)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let st = StateFile::create(dir.path()).unwrap();
    let ft = FaketimeClock::create(dir.path(), 2, &st).unwrap();
    let date_under = |node: usize| -> i64 {
        let mut cmd = Command::new("date");
        cmd.arg("+%s");
        for (k, v) in ft.env(node) {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    ft.set_offset(1, 3_600_000).unwrap();
    let skew = date_under(1) - now();
    assert!((3590..=3610).contains(&skew), "node 1 skew {skew}s");
    // Node 2 is untouched, and node 1 can be changed while running programs read it anew.
    assert!((date_under(2) - now()).abs() <= 10);
    ft.set_offset(1, -7_200_000).unwrap();
    let skew = date_under(1) - now();
    assert!((-7210..=-7190).contains(&skew), "node 1 skew {skew}s");
    // Its files are in the ledger for cleanup.
    let outstanding = state::read(st.path()).unwrap().outstanding;
    assert_eq!(outstanding.len(), 2);
}

/// A network of `nodes` hosts for a test, recorded in a state file in `dir`.
fn setup_net(dir: &std::path::Path, nodes: usize, port: u16, mode: NetMode, seed: u64) -> Net {
    let st = Arc::new(StateFile::create(dir).unwrap());
    let cfg = NetConfig {
        nodes,
        port,
        mode,
        tag: nemeses::net::run_tag(dir),
        seed,
    };
    Net::setup(&cfg, st).unwrap()
}

fn recorder() -> (nemeses::events::Sink, Arc<Mutex<Vec<history::Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    (Box::new(move |e| e2.lock().unwrap().push(e)), events)
}

#[test]
fn missing_faults_refuse_to_start_unless_allowed_and_are_then_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(setup_net(dir.path(), 3, 7004, NetMode::Proxy, 2));
    let ncfg = NemesisConfig {
        kinds: vec![FaultKind::Clock, FaultKind::Kill],
        ..Default::default()
    };
    let (sink, _) = recorder();
    let clocks = Clocks::new(3, Box::new(UnsupportedClock::etcd()));
    let err = Nemesis::new(ncfg.clone(), net.clone(), Some(clocks), None, sink).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot inject `clock`") && msg.contains("Go"),
        "{msg}"
    );
    assert!(msg.contains("cannot inject `kill`"), "{msg}");

    let (sink, events) = recorder();
    let clocks = Clocks::new(3, Box::new(UnsupportedClock::etcd()));
    let mut nem = Nemesis::new(
        NemesisConfig {
            allow_missing: true,
            ..ncfg
        },
        net,
        Some(clocks),
        None,
        sink,
    )
    .unwrap();
    nem.start(FaultKind::Clock).unwrap();
    let ev = events.lock().unwrap().clone();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1].f, "start-clock");
    assert!(ev[1].error.as_deref().unwrap().contains("Go"));
}

#[test]
fn schedule_is_seeded_records_pairs_and_ends_healed() {
    let run = |seed: u64| {
        let dir = tempfile::tempdir().unwrap();
        let net = Arc::new(setup_net(dir.path(), 3, 7005, NetMode::Proxy, seed));
        echo_servers(&net);
        let (sink, events) = recorder();
        let mut nem = Nemesis::new(
            NemesisConfig {
                kinds: vec![FaultKind::Partition, FaultKind::Latency],
                interval: Duration::from_millis(60),
                seed,
                ..Default::default()
            },
            net.clone(),
            None,
            None,
            sink,
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            s2.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        nem.run(&stop).unwrap();
        t.join().unwrap();
        // Healed: every link carries bytes again.
        for a in 1..=3 {
            for b in 1..=3 {
                if a != b {
                    echo(&mut TcpStream::connect(net.peer_addr(a, b)).unwrap(), b"ok").unwrap();
                }
            }
        }
        let ev = events.lock().unwrap().clone();
        ev.iter()
            .filter(|e| e.typ == history::EventType::Info)
            .map(|e| (e.f.clone(), e.value.get("pattern").cloned()))
            .collect::<Vec<_>>()
    };
    let a = run(11);
    assert!(a.len() >= 4, "{a:?}");
    // Every start is followed by its stop.
    for pair in a.chunks(2) {
        assert!(pair[0].0.starts_with("start-") && pair.len() == 2, "{a:?}");
        assert_eq!(pair[0].0.replace("start-", "stop-"), pair[1].0);
    }
    // Same seed, same choices (the prefix both runs got to).
    let b = run(11);
    let k = a.len().min(b.len());
    assert_eq!(a[..k], b[..k]);
}

#[test]
fn overlapping_schedule_holds_two_kinds_at_once_and_heals_both() {
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(setup_net(dir.path(), 3, 7006, NetMode::Proxy, 8));
    let (sink, events) = recorder();
    let mut nem = Nemesis::new(
        NemesisConfig {
            kinds: vec![FaultKind::Partition, FaultKind::Latency],
            interval: Duration::from_millis(50),
            seed: 8,
            overlap: true,
            ..Default::default()
        },
        net,
        None,
        None,
        sink,
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        s2.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    nem.run(&stop).unwrap();
    t.join().unwrap();
    let infos: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.typ == history::EventType::Info)
        .map(|e| e.f.clone())
        .collect();
    let mut active = std::collections::BTreeSet::new();
    let mut max_active = 0;
    for f in &infos {
        if let Some(k) = f.strip_prefix("start-") {
            assert!(active.insert(k.to_string()), "{k} started twice: {infos:?}");
        } else if let Some(k) = f.strip_prefix("stop-") {
            assert!(active.remove(k), "{k} stopped while not active: {infos:?}");
        }
        max_active = max_active.max(active.len());
    }
    assert!(active.is_empty(), "not healed at the end: {infos:?}");
    assert_eq!(max_active, 2, "faults never overlapped: {infos:?}");
}
