//! `faultline bench harness`: how many operations per second the harness drives against the
//! built-in store on loopback, and how much CPU the harness itself spends per operation.
//!
//! For each concurrency it starts a fresh 3-node built-in cluster in a temporary directory,
//! runs the unthrottled workload for `--seconds`, and reads the harness's own CPU time
//! (getrusage RUSAGE_SELF: the nodes are separate processes and not included) and the nodes'
//! CPU time (from /proc/<pid>/stat just before they stop). Nothing is checked; this measures
//! the driver, not the checkers.

use crate::run::cluster::Cluster;
use crate::run::config::{RunConfig, TargetKind};
use crate::run::log::HarnessLog;
use crate::run::{self};
use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use workloads::etcd::EtcdReads;
use workloads::Workload;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Concurrencies to measure.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    pub concurrency: Vec<usize>,
    /// Seconds of load per concurrency.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Workload to drive.
    #[arg(long, default_value = "register", value_parser = ["register", "list-append", "rw-register", "set", "counter"])]
    pub workload: String,
    /// Built-in store mode.
    #[arg(long, default_value = "strong", value_parser = ["strong", "causal", "session", "eventual"])]
    pub mode: String,
    /// Print one JSON object per concurrency.
    #[arg(long)]
    pub json: bool,
}

/// User + system CPU seconds of this process.
fn self_cpu() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// User + system CPU seconds of a process from /proc/<pid>/stat (fields 14 and 15).
pub(crate) fn proc_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz.max(1.0))
}

/// Wraps a cluster to read its nodes' CPU time just before it stops.
struct Metered {
    inner: Box<dyn Cluster>,
    node_cpu: Arc<std::sync::Mutex<f64>>,
}

impl Cluster for Metered {
    fn nodes(&mut self) -> Vec<run::cluster::NodeInfo> {
        self.inner.nodes()
    }
    fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.inner.restart(i)
    }
    fn stop(&mut self) {
        let cpu: f64 = self
            .inner
            .nodes()
            .iter()
            .filter_map(|n| n.pid.and_then(proc_cpu))
            .sum();
        *self.node_cpu.lock().unwrap_or_else(|p| p.into_inner()) = cpu;
        self.inner.stop();
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let workload = Workload::parse(&args.workload).context("unknown workload")?;
    let root: PathBuf =
        std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
    if !args.json {
        println!(
            "harness against a 3-node built-in cluster ({} mode, {} workload, {:.0}s each, loopback)",
            args.mode, args.workload, args.seconds
        );
        println!(
            "{:>11} {:>10} {:>8} {:>8} {:>8} {:>16} {:>15}",
            "concurrency", "ops/s", "ok", "fail", "info", "harness CPU/op", "nodes CPU/op"
        );
    }
    for &c in &args.concurrency {
        let cfg = RunConfig {
            target: TargetKind::Builtin,
            mode: args.mode.clone(),
            nodes: 3,
            workload,
            expect: Vec::new(),
            concurrency: c.max(1),
            rate: 0.0,
            time_limit: Duration::from_secs_f64(args.seconds),
            seed: 1,
            store: root.clone(),
            name: format!("bench-{c}"),
            etcd_reads: EtcdReads::Linearizable,
            etcd_endpoints: Vec::new(),
            op_timeout: Duration::from_secs(5),
            settle: Duration::ZERO,
            check_time_limit: None,
            // No faults: the harness alone, on loopback.
            faults: crate::run::faults::FaultsConfig {
                kinds: Vec::new(),
                net: nemeses::NetMode::Auto,
                partition: None,
                interval_s: 1.0,
                allow_missing: false,
                overlap: false,
            },
        };
        let dir = run::results::create_run_dir(&root, &cfg.name)?;
        let log = Arc::new(HarnessLog::new(Some(&dir.join("harness.log")), true)?);
        let node_cpu = Arc::new(std::sync::Mutex::new(0.0));
        let cluster = Box::new(Metered {
            inner: run::start_cluster(&cfg, &dir, &log, None)?,
            node_cpu: node_cpu.clone(),
        });
        let cpu0 = self_cpu();
        let d = run::drive(&cfg, &dir, &log, cluster, None)?;
        let cpu = self_cpu() - cpu0;
        let ops = d.ok + d.fail + d.info;
        let rate = d.main_ops as f64 / d.main_phase.as_secs_f64().max(1e-9);
        let node_cpu = *node_cpu.lock().unwrap_or_else(|p| p.into_inner());
        let per = |s: f64| s / (ops.max(1) as f64) * 1e6;
        if args.json {
            println!(
                "{}",
                json!({"bench": "harness", "mode": args.mode, "workload": args.workload,
                       "concurrency": c, "seconds": d.main_phase.as_secs_f64(), "ops": ops,
                       "ops_per_sec": rate, "ok": d.ok, "fail": d.fail, "info": d.info,
                       "harness_cpu_us_per_op": per(cpu), "nodes_cpu_us_per_op": per(node_cpu)})
            );
        } else {
            println!(
                "{:>11} {:>10.0} {:>8} {:>8} {:>8} {:>13.1} µs {:>12.1} µs",
                c,
                rate,
                d.ok,
                d.fail,
                d.info,
                per(cpu),
                per(node_cpu)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(0)
}
