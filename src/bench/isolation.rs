//! `faultline bench isolation`: transactional isolation checking (`--expect
//! strict-serializable`) on generated list-append histories (`history::sim::list_append`,
//! 16 processes), at several sizes, to show throughput and that time and memory grow linearly.
//!
//! Memory: the kernel's peak-RSS counter (VmHWM) is reset (`/proc/self/clear_refs`) once the
//! history is loaded, so "checker peak" is what the check adds on top of the loaded history;
//! "process peak" is the whole process's high-water mark since the reset plus nothing else.

use anyhow::{bail, Context};
use checkers::{check, CheckOptions, Verdict};
use history::sim::{list_append, ListAppendConfig};
use history::History;
use std::time::Instant;

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
}

fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) of this process so far, in seconds, from /proc/self/stat.
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    println!(
        "isolation bench: list-append, {} processes, seed {}, --expect {}",
        args.processes, args.seed, args.expect
    );
    println!(
        "{:>9} {:>9} {:>12} {:>9} {:>12} {:>12} {:>14} {:>10}  stages (ms)",
        "txns",
        "wall s",
        "txns/s",
        "cpu s",
        "txns/cpu-s",
        "history MB",
        "checker peak",
        "bytes/txn"
    );
    for n in sizes {
        if n == 0 {
            bail!("--sizes must be positive");
        }
        let events = list_append(&ListAppendConfig {
            txns: n,
            processes: args.processes,
            seed: args.seed,
            ..Default::default()
        });
        let h = History::from_events("generated", events).context("generated history")?;
        let base_kb = status_kb("VmRSS:").unwrap_or(0);
        let peak_ok = reset_peak();
        let opts = CheckOptions {
            expect: vec![args.expect.clone()],
            ..Default::default()
        };
        let cpu0 = cpu_secs().unwrap_or(0.0);
        let t = Instant::now();
        let r = check(&h, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_secs().unwrap_or(0.0) - cpu0;
        let hwm_kb = status_kb("VmHWM:").unwrap_or(0);
        if r.valid != Verdict::Valid {
            bail!(
                "the generated history is strict serializable, but the checker said {} ({:?}): a checker bug",
                r.valid.as_str(),
                r.anomaly_types
            );
        }
        let extra_kb = hwm_kb.saturating_sub(base_kb);
        let st = &r.stats["isolation"];
        if std::env::var_os("FAULTLINE_BENCH_STATS").is_some() {
            eprintln!("{st}");
        }
        let ms = |f: &str| st.get(f).and_then(|v| v.as_u64()).unwrap_or(0);
        println!(
            "{:>9} {:>9.3} {:>12.0} {:>9.2} {:>12.0} {:>12.1} {:>11.1} MB {:>10.0}  parse {} index {} graph {} total {}{}",
            n,
            secs,
            n as f64 / secs,
            cpu,
            n as f64 / cpu.max(0.01),
            base_kb as f64 / 1024.0,
            extra_kb as f64 / 1024.0,
            extra_kb as f64 * 1024.0 / n as f64,
            ms("parse_ms"),
            ms("index_ms"),
            ms("graph_ms"),
            ms("total_ms"),
            if peak_ok { "" } else { "  (peak not reset)" }
        );
        drop(h);
    }
    Ok(0)
}
