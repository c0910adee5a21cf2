//! The machinery of `faultline run`: start a cluster ([`cluster`]), drive the workload with a
//! pool of workers ([`workers`]) while every event goes to the history file as it happens
//! ([`history_writer`]), take the final reads of every key on every node, stop the cluster,
//! and keep everything in a run directory ([`results`]). Checking and reporting are done by
//! `run_cmd` with the same helpers as `faultline check`.

pub mod cluster;
pub mod config;
pub mod faults;
pub mod history_writer;
pub mod log;
pub mod process;
pub mod results;
pub mod setup;
pub mod workers;

use anyhow::{bail, Context};
use cluster::{Cluster, ExternalCluster, LocalCluster, NodeInfo};
use config::{RunConfig, TargetKind};
use history_writer::HistoryWriter;
use log::HarnessLog;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workers::{Counts, Shared};
use workloads::builtin::BuiltinTarget;
use workloads::etcd::EtcdTarget;
use workloads::{Generator, Target};

/// What driving the workload produced.
#[derive(Debug)]
pub struct Driven {
    pub history: PathBuf,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Length of the main phase.
    pub main_phase: Duration,
    /// Operations completed in the main phase.
    pub main_ops: u64,
    pub events: u64,
    /// Stopped early by Ctrl-C / SIGTERM.
    pub interrupted: bool,
}

/// Starts the cluster the configuration asks for. Must be called on a thread that lives for
/// the whole run (see `process`).
pub fn start_cluster(
    cfg: &RunConfig,
    run_dir: &Path,
    log: &HarnessLog,
    hosts: Option<&faults::Hosts>,
) -> anyhow::Result<Box<dyn Cluster>> {
    let c: Box<dyn Cluster> = match cfg.target {
        TargetKind::Builtin => {
            let exe = std::env::current_exe().context("locating the faultline executable")?;
            log.line(format!(
                "starting {} built-in nodes in {} mode",
                cfg.nodes, cfg.mode
            ));
            Box::new(LocalCluster::builtin(
                &exe,
                cfg.nodes,
                &cfg.mode,
                run_dir,
                hosts.map(|h| h.builtin_plan()),
            )?)
        }
        TargetKind::Etcd if !cfg.etcd_endpoints.is_empty() => {
            log.line(format!(
                "using the etcd cluster at {}",
                cfg.etcd_endpoints.join(", ")
            ));
            Box::new(ExternalCluster {
                endpoints: cfg.etcd_endpoints.clone(),
            })
        }
        TargetKind::Etcd => {
            let Some(etcd) = find_in_path("etcd") else {
                bail!("the etcd executable is not on PATH: install it (apt-get install -y etcd-server) or pass --etcd-endpoints of a running cluster");
            };
            log.line(format!(
                "starting {} etcd members ({})",
                cfg.nodes,
                etcd.display()
            ));
            let token = format!("faultline-{}-{}", std::process::id(), cfg.seed);
            Box::new(LocalCluster::etcd(
                &etcd,
                cfg.nodes,
                run_dir,
                &token,
                hosts.and_then(|h| h.etcd_plan()),
            )?)
        }
    };
    Ok(c)
}

pub fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// Writes `nodes.json`: names, addresses, pids, data dirs and logs (for nemeses, and for
/// cleaning up after a harness killed with SIGKILL).
pub fn write_nodes(run_dir: &Path, nodes: &[NodeInfo]) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(
        &json!({ "harness_pid": std::process::id(), "nodes": nodes }),
    )?;
    std::fs::write(run_dir.join("nodes.json"), text + "\n").context("writing nodes.json")
}

fn make_target(cfg: &RunConfig, nodes: &[NodeInfo]) -> anyhow::Result<Arc<dyn Target>> {
    let t: Arc<dyn Target> = match cfg.target {
        TargetKind::Builtin => Arc::new(BuiltinTarget::new(
            nodes
                .iter()
                .map(|n| (n.name.clone(), n.client.clone()))
                .collect(),
            cfg.workload,
            cfg.op_timeout,
        )?),
        TargetKind::Etcd => Arc::new(EtcdTarget::new(
            nodes
                .iter()
                .map(|n| (n.name.clone(), n.client.clone()))
                .collect(),
            cfg.workload,
            cfg.etcd_reads,
            format!("faultline/{}/{}/", cfg.name, cfg.seed),
            cfg.op_timeout,
        )?),
    };
    t.supports(cfg.workload)?;
    Ok(t)
}

/// Runs the main phase and the final reads against a started cluster, writing the history to
/// `run_dir/history.jsonl`. Stops the cluster before returning, on every path, then tears
/// down the nodes' network (`hosts`), if any.
pub fn drive(
    cfg: &RunConfig,
    run_dir: &Path,
    log: &Arc<HarnessLog>,
    cluster: Box<dyn Cluster>,
    hosts: Option<faults::Hosts>,
) -> anyhow::Result<Driven> {
    let cluster = Arc::new(Mutex::new(cluster));
    let result = drive_inner(cfg, run_dir, log, &cluster, hosts.as_ref());
    cluster.lock().unwrap_or_else(|p| p.into_inner()).stop();
    log.line("cluster stopped");
    if let Some(h) = hosts {
        drop(h);
        log.line("network torn down");
    }
    result
}

fn drive_inner(
    cfg: &RunConfig,
    run_dir: &Path,
    log: &Arc<HarnessLog>,
    cluster: &Arc<Mutex<Box<dyn Cluster>>>,
    hosts: Option<&faults::Hosts>,
) -> anyhow::Result<Driven> {
    let nodes = cluster.lock().unwrap_or_else(|p| p.into_inner()).nodes();
    write_nodes(run_dir, &nodes)?;
    let target = make_target(cfg, &nodes)?;
    let history_path = run_dir.join("history.jsonl");
    let start = Instant::now();
    let writer = Arc::new(
        HistoryWriter::create(&history_path, start)
            .with_context(|| format!("creating {}", history_path.display()))?,
    );
    let shared = Arc::new(Shared {
        history: writer.clone(),
        counts: Arc::new(Counts::default()),
        next_process: AtomicU64::new(cfg.concurrency as u64),
        stop: AtomicBool::new(false),
        op_timeout: cfg.op_timeout,
    });
    let nemesis = faults::prepare(cfg, hosts, cluster.clone(), writer.clone(), log)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let health: Vec<String> = match cfg.target {
        TargetKind::Builtin => nodes
            .iter()
            .map(|n| format!("http://{}/control/health", n.client))
            .collect(),
        TargetKind::Etcd => Vec::new(),
    };
    let out = rt.block_on(phases(
        cfg,
        log.clone(),
        target,
        shared.clone(),
        nemesis,
        health,
    ));
    writer.flush();
    rt.shutdown_timeout(Duration::from_secs(1));
    if let Some(e) = writer.error() {
        bail!("writing {} failed: {e}", history_path.display());
    }
    let (main_phase, main_ops) = out?;
    let c = &shared.counts;
    Ok(Driven {
        history: history_path,
        ok: c.ok.load(Ordering::Relaxed),
        fail: c.fail.load(Ordering::Relaxed),
        info: c.info.load(Ordering::Relaxed),
        main_phase,
        main_ops,
        events: writer.events(),
        interrupted: shared.stop.load(Ordering::Relaxed),
    })
}

async fn phases(
    cfg: &RunConfig,
    log: Arc<HarnessLog>,
    target: Arc<dyn Target>,
    shared: Arc<Shared>,
    nemesis: Option<faults::Starter>,
    health: Vec<String>,
) -> anyhow::Result<(Duration, u64)> {
    // Ctrl-C and SIGTERM stop the workers; the run then finishes normally (final reads, check).
    {
        let (shared, log) = (shared.clone(), log.clone());
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let sigterm = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = sigterm => {}
            }
            shared.stop.store(true, Ordering::Relaxed);
            log.line("interrupted: stopping the workers, then final reads and the check");
        });
    }
    // Flush the history at least every half second even when nothing happens.
    {
        let w = shared.history.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_millis(500));
            loop {
                iv.tick().await;
                w.flush();
            }
        });
    }
    // Setup (bank balances) as process 0's first operation.
    if let Some(setup) = cfg.workload.setup() {
        let mut client = target.client(0);
        let done = workers::perform(&shared, client.as_mut(), 0, &setup, None, None).await;
        if done.typ != history::EventType::Ok {
            bail!(
                "setting up the {} workload failed ({}): {}",
                cfg.workload.name(),
                done.typ.as_str(),
                done.error.unwrap_or_default()
            );
        }
        setup::wait_visible(target.as_ref(), cfg.workload, &setup, &log).await;
    }
    log.line(format!(
        "main phase: {} workload, {} workers, {}, {:.1}s, seed {}",
        cfg.workload.name(),
        cfg.concurrency,
        if cfg.rate > 0.0 {
            format!("{} ops/s", cfg.rate)
        } else {
            "unthrottled".to_string()
        },
        cfg.time_limit.as_secs_f64(),
        cfg.seed
    ));
    if faults::interrupted() {
        shared.stop.store(true, Ordering::Relaxed);
        log.line("interrupted during startup: no main phase; final reads and the check follow");
    }
    let nemesis = nemesis.map(|n| n.start(&log));
    let main_start = Instant::now();
    let deadline = main_start + cfg.time_limit;
    let progress = {
        let (counts, log, limit) = (shared.counts.clone(), log.clone(), cfg.time_limit);
        tokio::spawn(async move {
            let every = if log.terminal {
                Duration::from_millis(250)
            } else {
                Duration::from_secs(2)
            };
            let mut iv = tokio::time::interval(every);
            iv.tick().await;
            let (mut last_n, mut last_t) = (0u64, Instant::now());
            loop {
                iv.tick().await;
                let n = counts.total();
                let dt = last_t.elapsed().as_secs_f64().max(1e-9);
                let rate = (n - last_n) as f64 / dt;
                (last_n, last_t) = (n, Instant::now());
                log.progress(&format!(
                    "{:>7.0} ops/s | ok {} fail {} info {} | {:.1}s / {:.1}s",
                    rate,
                    counts.ok.load(Ordering::Relaxed),
                    counts.fail.load(Ordering::Relaxed),
                    counts.info.load(Ordering::Relaxed),
                    main_start.elapsed().as_secs_f64(),
                    limit.as_secs_f64()
                ));
            }
        })
    };
    let interval = if cfg.rate > 0.0 {
        Some(Duration::from_secs_f64(cfg.concurrency as f64 / cfg.rate))
    } else {
        None
    };
    let mut handles = Vec::new();
    for w in 0..cfg.concurrency {
        let gen = Generator::new(cfg.workload, cfg.seed, w as u64, cfg.concurrency as u64);
        handles.push(tokio::spawn(workers::worker(
            shared.clone(),
            target.client(w),
            gen,
            w as u64,
            deadline,
            interval,
        )));
    }
    let mut keys = std::collections::BTreeSet::new();
    for h in handles {
        let gen = h.await.context("a worker task panicked")?;
        keys.extend(gen.keys().into_iter().map(|k| k.to_string()));
    }
    let main_phase = main_start.elapsed();
    let main_ops = shared.counts.total();
    progress.abort();
    log.end_progress();
    log.line(format!(
        "main phase done: {} ops in {:.1}s ({:.0} ops/s), ok {} fail {} info {}",
        main_ops,
        main_phase.as_secs_f64(),
        main_ops as f64 / main_phase.as_secs_f64().max(1e-9),
        shared.counts.ok.load(Ordering::Relaxed),
        shared.counts.fail.load(Ordering::Relaxed),
        shared.counts.info.load(Ordering::Relaxed),
    ));
    // Every fault healed before the final reads.
    if let Some(n) = nemesis {
        tokio::task::spawn_blocking(move || n.finish())
            .await
            .context("the nemesis thread")??;
        log.line("nemesis stopped: every fault healed");
    }
    // Final phase: after a quiet period, read every key on every node from its own state.
    if !cfg.settle.is_zero() {
        log.line(format!(
            "settling {:.1}s before the final reads",
            cfg.settle.as_secs_f64()
        ));
        tokio::time::sleep(cfg.settle).await;
    }
    if !health.is_empty() {
        let waited = tokio::task::spawn_blocking(move || wait_replicas_quiet(&health))
            .await
            .context("the replica wait panicked")?;
        log.line(waited);
    }
    let keys: Vec<serde_json::Value> = keys
        .iter()
        .filter_map(|k| serde_json::from_str(k).ok())
        .collect();
    let names = target.node_names();
    let mut finals = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (shared, target, keys, name) =
            (shared.clone(), target.clone(), keys.clone(), name.clone());
        let workload = cfg.workload;
        finals.push(tokio::spawn(async move {
            let mut client = target.node_client(i);
            let mut process = shared.new_process();
            for k in &keys {
                let op = workload.final_read(k);
                let done = workers::perform(
                    &shared,
                    client.as_mut(),
                    process,
                    &op,
                    Some(&name),
                    Some("final"),
                )
                .await;
                if done.typ == history::EventType::Info {
                    process = shared.new_process();
                }
            }
        }));
    }
    for f in finals {
        f.await.context("a final-read task panicked")?;
    }
    log.line(format!(
        "final reads: {} keys on {} nodes",
        keys.len(),
        names.len()
    ));
    Ok((main_phase, main_ops))
}

/// Log lengths for the harness log; a replica that did not answer shows as `unreachable`.
fn show_lens(lens: &[Option<u64>]) -> String {
    let parts: Vec<String> = lens
        .iter()
        .map(|l| l.map_or("unreachable".to_string(), |n| n.to_string()))
        .collect();
    parts.join(", ")
}

/// Most time spent waiting for replicas to agree on their log length before the final reads.
const QUIET_WAIT: Duration = Duration::from_secs(5);

/// Polls every built-in replica's `log_len` until all report the same length twice in a row
/// (replication has caught up and nothing is moving), or nothing has moved for half a second
/// (modes whose logs legitimately differ in length), or [`QUIET_WAIT`] passes. Returns a line
/// for the harness log.
fn wait_replicas_quiet(health: &[String]) -> String {
    let start = Instant::now();
    let mut last: Option<Vec<Option<u64>>> = None;
    let mut still = 0;
    loop {
        // `None`: the replica did not answer its health check.
        let lens: Vec<Option<u64>> = health
            .iter()
            .map(|u| {
                process::http_get(u, Duration::from_secs(1))
                    .ok()
                    .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
                    .and_then(|v| v["log_len"].as_u64())
            })
            .collect();
        let equal = lens.windows(2).all(|w| w[0] == w[1]) && !lens.contains(&None);
        if equal && last.as_ref() == Some(&lens) {
            return format!(
                "replicas agree (log length {}) after {:.1}s",
                show_lens(&lens),
                start.elapsed().as_secs_f64()
            );
        }
        still = if last.as_ref() == Some(&lens) {
            still + 1
        } else {
            0
        };
        if still >= 5 {
            return format!(
                "replicas quiet with log lengths {} after {:.1}s",
                show_lens(&lens),
                start.elapsed().as_secs_f64()
            );
        }
        if start.elapsed() >= QUIET_WAIT {
            return format!(
                "replicas still differ after {:.0}s (log lengths {}); final reads go ahead",
                QUIET_WAIT.as_secs_f64(),
                show_lens(&lens)
            );
        }
        last = Some(lens);
        std::thread::sleep(Duration::from_millis(100));
    }
}
