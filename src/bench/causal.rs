//! `faultline bench causal`: time `check --expect session,causal` on generated list-append
//! histories (16 processes, 1-4 micro-ops per transaction, bounded appends per key).
//!
//! For each size the parent generates a history with `history::sim::list_append`, writes it as
//! JSONL to a temporary file and runs itself as a child (`--measure FILE`) that loads and checks
//! it, timing parse and check separately and reading its own peak RSS (VmHWM) from
//! /proc/self/status. A child per size keeps each peak honest: it is what `faultline check`
//! needs for that file, without the generator's memory or an earlier, larger run's.

use anyhow::{bail, Context};
use checkers::{CheckOptions, Verdict};
use history::sim::{list_append, ListAppendConfig};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// History sizes in transactions, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "100000,200000,400000")]
    pub sizes: Vec<usize>,
    /// Seed of the generator (one seed drives all randomness).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 16)]
    pub processes: u64,
    /// Keys in use at once.
    #[arg(long, default_value_t = 8)]
    pub keys: u64,
    /// Appends per key before a fresh key replaces it.
    #[arg(long, default_value_t = 32)]
    pub appends_per_key: u64,
    /// Repetitions per size; the fastest is reported.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Directory for the generated histories (default: the system temp directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the generated history files (in --dir) instead of deleting them.
    #[arg(long)]
    pub keep: bool,
    /// Print one JSON object per size instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Internal: load and check FILE in this process and print the measurements as JSON.
    #[arg(long, hide = true)]
    pub measure: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Some(file) = &args.measure {
        return measure(file, &["session", "causal"]);
    }
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        bail!("--sizes needs positive transaction counts, e.g. --sizes 100000,200000");
    }
    let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let exe = std::env::current_exe().context("locating the faultline binary")?;
    if !args.json {
        println!(
            "faultline bench causal: check --expect session,causal; {} processes, 1-4 micro-ops, {} keys x {} appends, seed {}",
            args.processes, args.keys, args.appends_per_key, args.seed
        );
        println!(
            "{:>8} {:>8} {:>8} {:>8} {:>12} {:>12} {:>10} {:>10} {:>9} {:>10} {:>11}",
            "txns",
            "parse s",
            "check s",
            "total s",
            "check txn/s",
            "total txn/s",
            "parse cpu",
            "check cpu",
            "peak MiB",
            "bytes/txn",
            "check B/txn"
        );
    }
    for &n in &args.sizes {
        let cfg = ListAppendConfig {
            txns: n,
            processes: args.processes,
            max_mops: 4,
            active_keys: args.keys,
            appends_per_key: args.appends_per_key,
            crash_rate: 0.0,
            seed: args.seed,
        };
        let path = dir.join(format!(
            "faultline-bench-causal-{}-{n}.jsonl",
            std::process::id()
        ));
        std::fs::write(&path, history::jsonl::to_string(&list_append(&cfg)))
            .with_context(|| format!("writing {}", path.display()))?;
        let best = best_of_children(
            &exe,
            &["bench", "causal", "--measure"],
            &path,
            args.repeat,
            n,
        );
        let best = match best {
            Ok(v) => Some(v),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        if !args.keep {
            let _ = std::fs::remove_file(&path);
        }
        let v = best.unwrap_or(Value::Null);
        let txns = v["txns"].as_f64().unwrap_or(0.0);
        let parse = v["parse_s"].as_f64().unwrap_or(0.0);
        let check = v["check_s"].as_f64().unwrap_or(0.0);
        let peak = v["peak_rss_kib"].as_f64().unwrap_or(0.0);
        // What checking adds on top of the loaded history.
        let check_kib = (v["check_peak_rss_kib"].as_f64().unwrap_or(f64::NAN)
            - v["loaded_rss_kib"].as_f64().unwrap_or(0.0))
        .max(0.0);
        if args.json {
            println!("{v}");
        } else {
            println!(
                "{:>8} {:>8.3} {:>8.3} {:>8.3} {:>12.0} {:>12.0} {:>10.2} {:>10.2} {:>9.1} {:>10.0} {:>11.0}",
                txns,
                parse,
                check,
                parse + check,
                txns / check.max(1e-9),
                txns / (parse + check).max(1e-9),
                v["parse_cpu_s"].as_f64().unwrap_or(0.0),
                v["check_cpu_s"].as_f64().unwrap_or(0.0),
                peak / 1024.0,
                peak * 1024.0 / txns.max(1.0),
                check_kib * 1024.0 / txns.max(1.0)
            );
        }
        if v["valid"] != Value::Bool(true) {
            bail!("the generated history of {n} transactions was not judged valid: {v}");
        }
    }
    Ok(crate::exit::VALID)
}

/// Runs `exe ARGS FILE` (a `--measure` child) `repeat` times and keeps the run with the
/// least parse + check time; a child per run keeps each peak memory figure its own.
pub(crate) fn best_of_children(
    exe: &std::path::Path,
    args: &[&str],
    file: &std::path::Path,
    repeat: usize,
    n: usize,
) -> anyhow::Result<Value> {
    let total =
        |v: &Value| v["parse_s"].as_f64().unwrap_or(0.0) + v["check_s"].as_f64().unwrap_or(0.0);
    let mut best: Option<Value> = None;
    for _ in 0..repeat.max(1) {
        let out = std::process::Command::new(exe)
            .args(args)
            .arg(file)
            .output()
            .context("running the measuring child")?;
        if !out.status.success() {
            bail!(
                "measuring {n} transactions failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v: Value = serde_json::from_slice(&out.stdout).context("child output")?;
        if best.as_ref().is_none_or(|b| total(&v) < total(b)) {
            best = Some(v);
        }
    }
    Ok(best.unwrap_or(Value::Null))
}

/// Loads FILE, checks it against `models` and prints one JSON object: parse and check times
/// (wall and CPU), the verdict, the resident size once loaded, and the peaks (VmHWM) of the
/// whole process and of the check alone. Shared with `bench isolation`.
pub(crate) fn measure(file: &std::path::Path, models: &[&str]) -> anyhow::Result<u8> {
    let c0 = cpu_s();
    let t0 = Instant::now();
    let h = history::load_file(file, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let parse = t0.elapsed().as_secs_f64();
    let c1 = cpu_s();
    let loaded = status_kib("VmRSS:");
    let parse_peak = status_kib("VmHWM:");
    // Reset the peak (Linux >= 4.0) so the next VmHWM is the check's own peak.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let opts = CheckOptions {
        expect: models.iter().map(|m| m.to_string()).collect(),
        ..Default::default()
    };
    let t1 = Instant::now();
    let r = checkers::check(&h, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let check = t1.elapsed().as_secs_f64();
    let c2 = cpu_s();
    println!(
        "{}",
        json!({
            "txns": h.ops.len(),
            "parse_s": parse,
            "check_s": check,
            "parse_cpu_s": c1 - c0,
            "check_cpu_s": c2 - c1,
            "valid": match r.valid { Verdict::Valid => json!(true), Verdict::Invalid => json!(false), Verdict::Unknown => json!("unknown") },
            "anomaly_types": r.anomaly_types,
            "loaded_rss_kib": loaded,
            "parse_peak_rss_kib": parse_peak,
            "check_peak_rss_kib": if reset { status_kib("VmHWM:") } else { None },
            "peak_rss_kib": parse_peak.max(status_kib("VmHWM:")),
            "stats": r.stats.get("isolation"),
        })
    );
    Ok(crate::exit::VALID)
}

/// CPU time (user + system) this process has used, in seconds (10 ms resolution): on a shared
/// machine it says what the work costs, where wall time also says how busy the machine was.
/// This process's user + system CPU seconds.
fn cpu_s() -> f64 {
    super::harness::proc_cpu(std::process::id()).unwrap_or(0.0)
}

/// A size field of /proc/self/status (VmHWM: peak resident set, VmRSS: current), in KiB.
fn status_kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
