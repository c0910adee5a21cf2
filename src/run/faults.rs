//! The nemeses inside `faultline run`: the `--nemesis`, `--net`, `--partition`,
//! `--nemesis-interval` and `--allow-missing-faults` options, the hosts the nodes run on
//! (namespaces or the link proxy, from the `nemeses` crate), the address plan the cluster is
//! started with, and the nemesis thread whose events go into the history. The thread is
//! stopped and everything healed before the final reads; the network is torn down after the
//! cluster stops.

use super::cluster::Cluster;
use super::config::{RunConfig, TargetKind};
use super::history_writer::HistoryWriter;
use super::log::HarnessLog;
use anyhow::Context;
use nemeses::clock::{ClockSetter, Clocks, ControlApiClock, UnsupportedClock};
use nemeses::process::NodeProcesses;
use nemeses::schedule::{FaultKind, Nemesis, NemesisConfig};
use nemeses::{Net, NetConfig, NetMode, Resource, StateFile};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The nemesis options of `faultline run`.
#[derive(Debug, Clone, clap::Args)]
pub struct FaultArgs {
    /// Faults to inject, comma separated: partition, clock, kill, pause, latency (or none)
    /// (default: partition,kill,pause,clock on the built-in store; partition,kill,pause on an
    /// etcd cluster faultline starts; none on an external one; a default fault that cannot be
    /// injected on this machine is left out and reported, where a named one stops the run).
    #[arg(long)]
    pub nemesis: Option<String>,
    /// How nodes become hosts: netns (namespaces, root), proxy (loopback + link proxy), auto.
    #[arg(long, default_value = "auto", value_parser = ["auto", "netns", "proxy"])]
    pub net: String,
    /// Partition pattern: one, primary, majority, majorities-ring, bridge, groups like 1,2|3,
    /// or one-way like 1,2>3 (3 drops what 1 and 2 send) (default: a random pattern each time).
    #[arg(long)]
    pub partition: Option<String>,
    /// Seconds each fault is held, and between faults.
    #[arg(long, default_value_t = 5.0)]
    pub nemesis_interval: f64,
    /// Run even when some requested faults cannot be injected here (recorded as unsupported).
    #[arg(long)]
    pub allow_missing_faults: bool,
    /// Let faults of different kinds overlap (each interval starts or heals one kind).
    #[arg(long)]
    pub nemesis_overlap: bool,
}

/// The validated nemesis configuration (part of the run's config.json).
#[derive(Debug, Clone, Serialize)]
pub struct FaultsConfig {
    pub kinds: Vec<FaultKind>,
    pub net: NetMode,
    pub partition: Option<String>,
    pub interval_s: f64,
    pub allow_missing: bool,
    pub overlap: bool,
}

impl FaultsConfig {
    /// The configuration from the options; `default` is the `--nemesis` list for the target
    /// when the option is not given.
    pub fn from_args(a: &FaultArgs, default: &str) -> anyhow::Result<FaultsConfig> {
        let kinds = FaultKind::parse_list(a.nemesis.as_deref().unwrap_or(default))
            .map_err(|e| anyhow::anyhow!("--nemesis: {e}"))?;
        if let Some(p) = &a.partition {
            p.parse::<nemeses::Pattern>()
                .map_err(|e| anyhow::anyhow!("--partition: {e}"))?;
        }
        if !(a.nemesis_interval.is_finite() && a.nemesis_interval > 0.0) {
            anyhow::bail!(
                "--nemesis-interval must be > 0 seconds, got {}",
                a.nemesis_interval
            );
        }
        Ok(FaultsConfig {
            kinds,
            net: a.net.parse()?,
            partition: a.partition.clone(),
            interval_s: a.nemesis_interval,
            // The default faults adapt to the machine; named ones are a requirement.
            allow_missing: a.allow_missing_faults || a.nemesis.is_none(),
            overlap: a.nemesis_overlap,
        })
    }

    /// Nodes run on harness-made hosts when faults are asked for or `--net` is explicit.
    pub fn active(&self) -> bool {
        !self.kinds.is_empty() || self.net != NetMode::Auto
    }

    /// The options that repeat this configuration.
    pub fn rerun_args(&self) -> String {
        if !self.active() {
            return String::new();
        }
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
        let net = match self.net {
            NetMode::Auto => "auto",
            NetMode::Netns => "netns",
            NetMode::Proxy => "proxy",
        };
        let mut s = format!(
            " --nemesis {} --net {net} --nemesis-interval {}",
            if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(",")
            },
            self.interval_s
        );
        if let Some(p) = &self.partition {
            s.push_str(&format!(" --partition {p}"));
        }
        if self.allow_missing {
            s.push_str(" --allow-missing-faults");
        }
        if self.overlap {
            s.push_str(" --nemesis-overlap");
        }
        s
    }
}

/// Where one node listens, how it reaches its peers, how clients reach it, and the command
/// prefix that puts it on its host.
#[derive(Debug, Clone)]
pub struct NodePlan {
    pub listen: String,
    /// `id=addr` for every node, itself included (the built-in store's `--peers`).
    pub peers: Vec<String>,
    pub client: String,
    /// etcd: the peer URL (listen and advertise).
    pub peer_url: String,
    pub prefix: Vec<String>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_sig: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From the moment the run creates hosts, Ctrl-C and SIGTERM no longer kill the harness
/// outright (which would leave namespaces behind): they are noted, and the run ends early
/// through its normal path (heal, final reads, teardown). The runner's own handlers, installed
/// later, chain to this one.
fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_interrupt as *const () as libc::sighandler_t);
        }
    }
}

/// True when Ctrl-C or SIGTERM arrived since the hosts were created.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The run's hosts: the resource ledger and the network.
pub struct Hosts {
    pub state: Arc<StateFile>,
    pub net: Arc<Net>,
}

impl Hosts {
    /// Builds the network when the configuration asks for it.
    pub fn setup(
        cfg: &RunConfig,
        run_dir: &Path,
        log: &HarnessLog,
    ) -> anyhow::Result<Option<Hosts>> {
        if !cfg.faults.active() {
            return Ok(None);
        }
        if cfg.target == TargetKind::Etcd && !cfg.etcd_endpoints.is_empty() {
            anyhow::bail!("--nemesis/--net need nodes faultline starts; an external etcd cluster (--etcd-endpoints) cannot be faulted");
        }
        catch_interrupts();
        let state =
            Arc::new(StateFile::create(run_dir).context("creating the nemesis state file")?);
        let port = if cfg.target == TargetKind::Etcd {
            2379
        } else {
            7001
        };
        let net = Net::setup(
            &NetConfig {
                nodes: cfg.nodes,
                port,
                mode: cfg.faults.net,
                tag: nemeses::net::run_tag(run_dir),
                seed: cfg.seed,
            },
            state.clone(),
        )
        .context(
            "setting up the nodes' network (run `faultline cleanup` if a previous run was killed)",
        )?;
        log.line(format!(
            "network: {} mode, {} nodes{}",
            match net.mode() {
                NetMode::Netns => "netns",
                _ => "proxy",
            },
            cfg.nodes,
            match &net {
                Net::Netns(n) => format!(" in namespaces {}n1..", n.prefix),
                Net::Proxy(_) => String::new(),
            }
        ));
        Ok(Some(Hosts {
            state,
            net: Arc::new(net),
        }))
    }

    /// The plan for the built-in store.
    pub fn builtin_plan(&self) -> Vec<NodePlan> {
        let n = self.net.nodes();
        (1..=n)
            .map(|i| NodePlan {
                listen: self.net.listen_addr(i).to_string(),
                peers: (1..=n)
                    .map(|j| format!("{j}={}", self.net.peer_addr(i, j)))
                    .collect(),
                client: self.net.client_addr(i).to_string(),
                peer_url: String::new(),
                prefix: self.net.host_prefix(i),
            })
            .collect()
    }

    /// The plan for etcd: only in netns mode (members advertise one peer URL to everyone, so
    /// the proxy cannot cut single links); `None` keeps the runner's loopback addresses.
    pub fn etcd_plan(&self) -> Option<Vec<NodePlan>> {
        if self.net.mode() != NetMode::Netns {
            return None;
        }
        Some(
            (1..=self.net.nodes())
                .map(|i| {
                    let ip = self.net.listen_addr(i).ip();
                    NodePlan {
                        listen: format!("http://{ip}:2379"),
                        peers: Vec::new(),
                        client: format!("http://{ip}:2379"),
                        peer_url: format!("http://{ip}:2380"),
                        prefix: self.net.host_prefix(i),
                    }
                })
                .collect(),
        )
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // The runner has stopped and reaped its nodes by now: settle their ledger entries.
        if let Err(e) = self.state.forget_dead_processes() {
            tracing::warn!(%e, "updating the nemesis state file");
        }
    }
}

/// The cluster as the nemesis sees it: pids to signal, and restarts after kills.
struct ClusterProcs {
    cluster: Arc<Mutex<Box<dyn Cluster>>>,
    state: Arc<StateFile>,
}

impl NodeProcesses for ClusterProcs {
    fn pid(&self, node: usize) -> Option<u32> {
        let mut c = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        c.nodes().get(node.wrapping_sub(1)).and_then(|n| n.pid)
    }
    fn restart(&mut self, node: usize) -> Result<(), String> {
        let mut c = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        c.restart(node - 1).map_err(|e| format!("{e:#}"))?;
        if let Some(pid) = c.nodes().get(node - 1).and_then(|n| n.pid) {
            let _ = self.state.add(&Resource::process(pid, true));
        }
        Ok(())
    }
}

/// A nemesis ready to start with the main phase.
pub struct Starter {
    nemesis: Nemesis,
}

/// The nemesis thread.
pub struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<nemeses::Result<()>>>,
}

/// Prepares the nemesis (probing capabilities; refusing unless `--allow-missing-faults`).
pub fn prepare(
    cfg: &RunConfig,
    hosts: Option<&Hosts>,
    cluster: Arc<Mutex<Box<dyn Cluster>>>,
    writer: Arc<HistoryWriter>,
    log: &HarnessLog,
) -> anyhow::Result<Option<Starter>> {
    let Some(hosts) = hosts else {
        return Ok(None);
    };
    // Every node process goes into the ledger (the runner also has the kernel kill them if
    // the harness dies).
    {
        let mut c = cluster.lock().unwrap_or_else(|p| p.into_inner());
        for n in c.nodes() {
            if let Some(pid) = n.pid {
                hosts.state.add(&Resource::process(pid, true))?;
            }
        }
    }
    if cfg.faults.kinds.is_empty() {
        return Ok(None);
    }
    let n = cfg.nodes;
    let (setter, primary): (Box<dyn ClockSetter>, Option<usize>) = match cfg.target {
        TargetKind::Builtin => (
            Box::new(ControlApiClock::new(
                (1..=n).map(|i| (i, hosts.net.client_addr(i))).collect(),
            )),
            matches!(cfg.mode.as_str(), "strong" | "session").then_some(1),
        ),
        TargetKind::Etcd => (Box::new(UnsupportedClock::etcd()), None),
    };
    let mut target_missing = BTreeMap::new();
    if cfg.target == TargetKind::Etcd && hosts.net.mode() == NetMode::Proxy {
        let why = "etcd members advertise one peer URL to every peer, so the link proxy cannot cut or slow single links: run as root with --net netns".to_string();
        target_missing.insert(FaultKind::Partition, why.clone());
        target_missing.insert(FaultKind::Latency, why);
    }
    let pattern: Option<nemeses::Pattern> = cfg
        .faults
        .partition
        .as_deref()
        .map(str::parse)
        .transpose()?;
    if let (Some(p), true) = (&pattern, cfg.faults.kinds.contains(&FaultKind::Partition)) {
        // A pattern that cannot apply to this cluster is an error now, not a failed fault
        // every interval.
        nemeses::grudge::grudge(p, n, primary, &mut history::sim::SplitMix64::new(0))
            .map_err(|e| anyhow::anyhow!("--partition {p}: {e}"))?;
    }
    let nem_cfg = NemesisConfig {
        kinds: cfg.faults.kinds.clone(),
        pattern,
        interval: Duration::from_secs_f64(cfg.faults.interval_s),
        seed: cfg.seed,
        primary,
        allow_missing: cfg.faults.allow_missing,
        overlap: cfg.faults.overlap,
        target_missing,
        ..Default::default()
    };
    let procs = ClusterProcs {
        cluster,
        state: hosts.state.clone(),
    };
    let nemesis = Nemesis::new(
        nem_cfg,
        hosts.net.clone(),
        Some(Clocks::new(n, setter)),
        Some(Box::new(procs)),
        Box::new(move |e| writer.record(e)),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (k, why) in nemesis.missing() {
        log.line(format!(
            "fault `{k}` cannot be injected and is recorded as unsupported: {why}"
        ));
    }
    Ok(Some(Starter { nemesis }))
}

impl Starter {
    pub fn start(self, log: &HarnessLog) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let mut nemesis = self.nemesis;
        log.line("nemesis started");
        let thread = std::thread::spawn(move || nemesis.run(&s2));
        Running {
            stop,
            thread: Some(thread),
        }
    }
}

impl Running {
    /// Stops the schedule and waits for its final heal.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take().map(|t| t.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => anyhow::bail!("the nemesis's final heal failed: {e}"),
            Some(Err(_)) => anyhow::bail!("the nemesis thread panicked"),
        }
    }
}

impl Drop for Running {
    /// A run that fails mid-phase still stops the schedule and waits for its final heal, so
    /// the network can be torn down after it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
