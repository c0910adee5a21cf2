//! `faultline run`: start a cluster, drive a workload, record the history, check it, report.
//!
//! With no arguments: a 3-node built-in cluster in `strong` mode, the `list-append` workload
//! for 10 seconds, checked against what `strong` promises (strict serializability). The
//! summary, `--json` output and exit codes are those of `faultline check`.

use crate::junit::Junit;
use crate::run::config::{default_expect, RunConfig, TargetKind};
use crate::run::log::HarnessLog;
use crate::run::{self, results};
use crate::{exit, report};
use anyhow::Context;
use checkers::CheckOptions;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use workloads::etcd::EtcdReads;
use workloads::Workload;

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The store under test.
    #[arg(long, default_value = "builtin", value_parser = ["builtin", "etcd"])]
    pub target: String,
    /// Consistency mode of the built-in store.
    #[arg(long, default_value = "strong", value_parser = ["strong", "causal", "session", "eventual"])]
    pub mode: String,
    /// Number of nodes to start.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// What the workers do.
    #[arg(long, default_value = "list-append",
          value_parser = ["register", "list-append", "rw-register", "set", "counter", "bank"])]
    pub workload: String,
    /// Models the history must satisfy, comma separated (default: what the workload and mode
    /// promise).
    #[arg(long, value_delimiter = ',')]
    pub expect: Vec<String>,
    /// Number of workers, each with one operation in flight.
    #[arg(long, default_value_t = 5)]
    pub concurrency: usize,
    /// Operations per second in total; 0 means as fast as the store answers.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Length of the main phase in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub time_limit: f64,
    /// Seed of every random choice (default: from the clock; printed and stored).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Results root: runs go to STORE/NAME/TIMESTAMP/, STORE/latest points at the newest.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Test name (default: TARGET-MODE-WORKLOAD).
    #[arg(long)]
    pub name: Option<String>,
    /// Print the results object as JSON (as `faultline check --json`).
    #[arg(long)]
    pub json: bool,
    /// Also write the verdict as a JUnit XML report to this file (as `faultline check
    /// --junit`; the run directory always gets a `junit.xml`).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// How etcd serves reads.
    #[arg(long, default_value = "linearizable", value_parser = ["linearizable", "serializable"])]
    pub etcd_reads: String,
    /// Client URLs of a running etcd cluster (comma separated) instead of starting one.
    #[arg(long, value_delimiter = ',')]
    pub etcd_endpoints: Vec<String>,
    /// Seconds after which an operation is recorded indeterminate (`info`).
    #[arg(long, default_value_t = 5.0)]
    pub op_timeout: f64,
    /// Quiet seconds before the final reads.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
    /// Search budget of the checkers in seconds; an unfinished search gives verdict unknown.
    #[arg(long)]
    pub check_time_limit: Option<f64>,
    #[command(flatten)]
    pub faults: crate::run::faults::FaultArgs,
}

fn secs(what: &str, s: f64) -> anyhow::Result<Duration> {
    if !(s.is_finite() && s >= 0.0) {
        anyhow::bail!("--{what} must be a number of seconds >= 0, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

/// The faults the nemesis injected, from the history: "partition 0.0-5.0s, kill 5.1-10.0s".
fn faults_line(h: &history::History) -> String {
    let secs = |t: Option<i64>| t.map_or("?".to_string(), |t| format!("{:.1}", t as f64 / 1e9));
    let mut open: Vec<(&str, Option<i64>)> = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for e in h
        .nemesis
        .iter()
        .filter(|e| e.typ == history::EventType::Invoke)
    {
        if let Some(kind) = e.f.strip_prefix("start-") {
            open.push((kind, e.time));
        } else if let Some(kind) = e.f.strip_prefix("stop-") {
            if let Some(i) = open.iter().position(|(k, _)| *k == kind) {
                let (k, from) = open.remove(i);
                done.push(format!("{k} {}-{}s", secs(from), secs(e.time)));
            }
        }
    }
    done.extend(
        open.iter()
            .map(|(k, from)| format!("{k} from {}s, never healed", secs(*from))),
    );
    if done.is_empty() {
        "none".into()
    } else {
        done.join(", ")
    }
}

/// The faults a run injects unless `--nemesis` says otherwise: every kind the target's nodes
/// support (etcd has no clock control here), none for a cluster faultline did not start.
fn default_nemesis(target: TargetKind, etcd_endpoints: &[String]) -> &'static str {
    match target {
        TargetKind::Builtin => "partition,kill,pause,clock",
        TargetKind::Etcd if etcd_endpoints.is_empty() => "partition,kill,pause",
        TargetKind::Etcd => "none",
    }
}

/// Validates the arguments into a configuration (usage errors are `Err`).
pub fn config(args: &RunArgs) -> anyhow::Result<RunConfig> {
    let target = match args.target.as_str() {
        "etcd" => TargetKind::Etcd,
        _ => TargetKind::Builtin,
    };
    let workload = Workload::parse(&args.workload)
        .with_context(|| format!("unknown workload {:?}", args.workload))?;
    let etcd_reads = EtcdReads::parse(&args.etcd_reads)
        .with_context(|| format!("unknown --etcd-reads {:?}", args.etcd_reads))?;
    if args.nodes == 0 || args.nodes > 9 {
        anyhow::bail!("--nodes must be between 1 and 9, got {}", args.nodes);
    }
    if args.concurrency == 0 {
        anyhow::bail!("--concurrency must be at least 1");
    }
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        anyhow::bail!("--rate must be >= 0 (0: unthrottled), got {}", args.rate);
    }
    let expect: Vec<String> = if args.expect.is_empty() {
        default_expect(target, &args.mode, workload, etcd_reads)
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        args.expect.clone()
    };
    checkers::models::resolve(&expect).map_err(|e| anyhow::anyhow!("--expect: {e}"))?;
    let nodes = if target == TargetKind::Etcd && !args.etcd_endpoints.is_empty() {
        args.etcd_endpoints.len()
    } else {
        args.nodes
    };
    let name = args.name.clone().unwrap_or_else(|| match target {
        TargetKind::Builtin => format!("builtin-{}-{}", args.mode, workload.name()),
        TargetKind::Etcd => format!("etcd-{}-{}", etcd_reads.name(), workload.name()),
    });
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        anyhow::bail!("--name must be a plain directory name, got {name:?}");
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            % 1_000_000_000
    });
    Ok(RunConfig {
        target,
        mode: args.mode.clone(),
        nodes,
        workload,
        expect,
        concurrency: args.concurrency,
        rate: args.rate,
        time_limit: secs("time-limit", args.time_limit)?,
        seed,
        store: args.store.clone(),
        name,
        etcd_reads,
        etcd_endpoints: args.etcd_endpoints.clone(),
        op_timeout: secs("op-timeout", args.op_timeout)?,
        settle: secs("settle", args.settle)?,
        check_time_limit: args
            .check_time_limit
            .map(|s| secs("check-time-limit", s))
            .transpose()?,
        faults: crate::run::faults::FaultsConfig::from_args(
            &args.faults,
            default_nemesis(target, &args.etcd_endpoints),
        )?,
    })
}

pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    let run_dir = results::create_run_dir(&cfg.store, &cfg.name)?;
    let log = Arc::new(HarnessLog::new(Some(&run_dir.join("harness.log")), false)?);
    let config_json = serde_json::json!({
        "config": &cfg,
        "rerun": cfg.rerun_command(),
    });
    std::fs::write(
        run_dir.join("config.json"),
        serde_json::to_string_pretty(&config_json)? + "\n",
    )
    .context("writing config.json")?;
    log.line(format!("run {} (seed {})", run_dir.display(), cfg.seed));
    let hosts = run::faults::Hosts::setup(&cfg, &run_dir, &log)?;
    let cluster = run::start_cluster(&cfg, &run_dir, &log, hosts.as_ref())?;
    let driven = run::drive(&cfg, &run_dir, &log, cluster, hosts)?;
    log.line(format!(
        "history: {} events in {}",
        driven.events,
        driven.history.display()
    ));
    let opts = CheckOptions {
        expect: cfg.expect.clone(),
        time_limit: cfg.check_time_limit,
        ..Default::default()
    };
    let name = driven.history.display().to_string();
    let mut junit = Junit::new();
    let judged = crate::check_cmd::judge(
        &driven.history,
        Some(history::Format::Jsonl),
        &opts,
        args.json,
        Some(&mut junit),
    );
    if !matches!(judged, Err(exit::USAGE)) {
        // The JUnit report goes to the run directory, and to --junit if given.
        junit.write(&run_dir.join("junit.xml"))?;
        if let Some(path) = &args.junit {
            junit.write(path)?;
        }
    }
    let (history, result) = match judged {
        Ok(judged) => judged,
        Err(code) => return Ok(code),
    };
    report::write_out_dir(&run_dir, &result)
        .with_context(|| format!("writing results to {}", run_dir.display()))?;
    log.line(format!("verdict: {}", result.valid.as_str()));
    // The run has healed and stopped everything by now; a reader that went away (`| head`)
    // must not turn the verdict into a panic, so write without println!'s panic.
    let mut text = String::new();
    if args.json {
        let mut v = report::json_value(&name, &result);
        if let Value::Object(m) = &mut v {
            m.insert("run_dir".into(), Value::from(run_dir.display().to_string()));
            m.insert("seed".into(), Value::from(cfg.seed));
        }
        text.push_str(&format!("{v}\n"));
    } else {
        text.push_str(&report::summary(&name, &result, false));
        text.push_str(&format!(
            "  ops:      {} ok, {} fail, {} info ({:.0} ops/s){}\n",
            driven.ok,
            driven.fail,
            driven.info,
            driven.main_ops as f64 / driven.main_phase.as_secs_f64().max(1e-9),
            if driven.interrupted {
                ", interrupted"
            } else {
                ""
            }
        ));
        text.push_str(&format!("  faults:   {}\n", faults_line(&history)));
        text.push_str(&format!("  seed:     {}\n", cfg.seed));
        text.push_str(&format!("  results:  {}\n", run_dir.display()));
    }
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
    Ok(exit::of_verdict(result.valid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::{Event, EventType, History, Process};

    #[test]
    fn faults_line_pairs_starts_with_stops() {
        let ev = |f: &str, t: i64| {
            let mut e = Event::new(Process::Nemesis, EventType::Invoke, f, Value::Null);
            e.time = Some(t);
            e
        };
        let h = History::from_events(
            "h",
            vec![
                ev("start-partition", 0),
                ev("start-kill", 1_000_000_000),
                ev("stop-partition", 5_000_000_000),
                ev("stop-kill", 6_500_000_000),
                ev("start-pause", 7_000_000_000),
            ],
        )
        .unwrap();
        assert_eq!(
            faults_line(&h),
            "partition 0.0-5.0s, kill 1.0-6.5s, pause from 7.0s, never healed"
        );
        assert_eq!(faults_line(&History::default()), "none");
    }
}
