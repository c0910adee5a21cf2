//! `faultline bench isolation`: transactional isolation checking (`--expect
//! strict-serializable`) on generated list-append histories (`history::sim::list_append`,
//! 16 processes), at several sizes, to show throughput and that time and memory grow linearly.
//!
//! As `bench causal` does, the parent writes each history as JSONL to a temporary file and runs
//! itself as a child (`--measure FILE`) that loads and checks it: the times include loading the
//! file, and the peak memory (VmHWM) is the whole process's for that size alone, as
//! `faultline check` would need it.

use anyhow::{bail, Context};
use history::sim::{list_append, ListAppendConfig};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transactions per generated history, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "100000,200000,400000")]
    pub sizes: Vec<usize>,
    /// Seed of the generated histories.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Models to check against (the figures in docs are for strict-serializable).
    #[arg(long, default_value = "strict-serializable")]
    pub expect: String,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 16)]
    pub processes: u64,
    /// Repetitions per size; the fastest is reported.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Directory for the generated histories (default: the system temp directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Internal: load and check FILE in this process and print the measurements as JSON.
    #[arg(long, hide = true)]
    pub measure: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Some(file) = &args.measure {
        let models: Vec<&str> = args.expect.split(',').map(str::trim).collect();
        return super::causal::measure(file, &models);
    }
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    if sizes.is_empty() || sizes.contains(&0) {
        bail!("--sizes needs positive transaction counts, e.g. --sizes 100000,200000");
    }
    let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let exe = std::env::current_exe().context("locating the faultline binary")?;
    println!(
        "isolation bench: list-append, {} processes, seed {}, --expect {}",
        args.processes, args.seed, args.expect
    );
    println!(
        "{:>8} {:>7} {:>7} {:>7} {:>11} {:>9} {:>9} {:>12} {:>9} {:>9} {:>11}  stages (ms)",
        "txns",
        "load s",
        "check s",
        "total s",
        "total tx/s",
        "load cpu",
        "check cpu",
        "total tx/cpu",
        "peak MiB",
        "B/txn",
        "check B/txn"
    );
    for n in sizes {
        let events = list_append(&ListAppendConfig {
            txns: n,
            processes: args.processes,
            seed: args.seed,
            ..Default::default()
        });
        let path = dir.join(format!(
            "faultline-bench-isolation-{}-{n}.jsonl",
            std::process::id()
        ));
        std::fs::write(&path, history::jsonl::to_string(&events))
            .with_context(|| format!("writing {}", path.display()))?;
        drop(events);
        let best = super::causal::best_of_children(
            &exe,
            &["bench", "isolation", "--expect", &args.expect, "--measure"],
            &path,
            args.repeat,
            n,
        );
        let _ = std::fs::remove_file(&path);
        let v = best?;
        if v["valid"] != Value::Bool(true) {
            bail!(
                "the generated history is strict serializable, but the checker said {} ({}): a checker bug",
                v["valid"],
                v["anomaly_types"]
            );
        }
        let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
        let txns = f("txns");
        let (load, check) = (f("parse_s"), f("check_s"));
        let (load_cpu, check_cpu) = (f("parse_cpu_s"), f("check_cpu_s"));
        let peak = f("peak_rss_kib");
        let check_kib =
            (v["check_peak_rss_kib"].as_f64().unwrap_or(f64::NAN) - f("loaded_rss_kib")).max(0.0);
        let ms = |k: &str| v["stats"][k].as_u64().unwrap_or(0);
        println!(
            "{:>8} {:>7.3} {:>7.3} {:>7.3} {:>11.0} {:>9.2} {:>9.2} {:>12.0} {:>9.1} {:>9.0} {:>11.0}  parse {} index {} graph {} total {}",
            txns,
            load,
            check,
            load + check,
            txns / (load + check).max(1e-9),
            load_cpu,
            check_cpu,
            txns / (load_cpu + check_cpu).max(0.01),
            peak / 1024.0,
            peak * 1024.0 / txns.max(1.0),
            check_kib * 1024.0 / txns.max(1.0),
            ms("parse_ms"),
            ms("index_ms"),
            ms("graph_ms"),
            ms("total_ms"),
        );
    }
    Ok(crate::exit::VALID)
}
