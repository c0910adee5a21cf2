//! `faultline bench linearizability`: time the linearizability checker on the Porcupine corpus
//! (102 etcd logs and 6 kv files), in process, per file and in total, and compare the verdicts
//! with the corpus's `expected.tsv`. Each file is parsed and checked `--runs` times; the
//! fastest run counts (the usual way to measure a CPU-bound function on a shared machine).

use anyhow::Context;
use checkers::{CheckOptions, Verdict};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The corpus directory (with expected.tsv, jepsen/ and kv/).
    #[arg(long, default_value = "../shared/corpus/porcupine")]
    pub corpus: PathBuf,
    /// Runs per file; the fastest counts.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// Print every file's time, not only the totals and the slowest files.
    #[arg(long)]
    pub per_file: bool,
}

struct Timed {
    file: String,
    expected: String,
    got: Verdict,
    parse: Duration,
    check: Duration,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let tsv = args.corpus.join("expected.tsv");
    let text = std::fs::read_to_string(&tsv).with_context(|| {
        format!(
            "reading {}: pass --corpus DIR (the Porcupine corpus with expected.tsv)",
            tsv.display()
        )
    })?;
    let opts = CheckOptions {
        expect: vec!["linearizable".into()],
        ..Default::default()
    };
    let runs = args.runs.max(1);
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let mut it = line.split('\t');
        let (Some(file), Some(expected)) = (it.next(), it.next()) else {
            continue;
        };
        let path = args.corpus.join(file);
        let (mut best_parse, mut best_check) = (Duration::MAX, Duration::MAX);
        let mut got = Verdict::Unknown;
        for _ in 0..runs {
            let t0 = Instant::now();
            let h = history::load_file(&path, None).map_err(|e| anyhow::anyhow!("{e}"))?;
            let t1 = Instant::now();
            let r = checkers::check(&h, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
            let t2 = Instant::now();
            best_parse = best_parse.min(t1 - t0);
            best_check = best_check.min(t2 - t1);
            got = r.valid;
        }
        rows.push(Timed {
            file: file.to_string(),
            expected: expected.to_string(),
            got,
            parse: best_parse,
            check: best_check,
        });
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut mismatches = 0;
    for r in &rows {
        let want = if r.expected == "linearizable" {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        if r.got != want {
            mismatches += 1;
            println!(
                "MISMATCH {}: expected {}, got {}",
                r.file,
                r.expected,
                r.got.as_str()
            );
        }
    }
    if args.per_file {
        println!(
            "{:<24} {:>10} {:>10}  verdict",
            "file", "parse ms", "check ms"
        );
        for r in &rows {
            println!(
                "{:<24} {:>10.3} {:>10.3}  {}",
                r.file,
                ms(r.parse),
                ms(r.check),
                r.got.as_str()
            );
        }
    } else {
        let mut slow: Vec<&Timed> = rows.iter().collect();
        slow.sort_by_key(|r| std::cmp::Reverse(r.parse + r.check));
        println!("slowest files (parse + check):");
        for r in slow.iter().take(5) {
            println!(
                "  {:<24} {:>8.3} ms  ({})",
                r.file,
                ms(r.parse + r.check),
                r.got.as_str()
            );
        }
    }
    for (label, prefix) in [("etcd (jepsen/)", "jepsen/"), ("kv (kv/)", "kv/")] {
        let set: Vec<&Timed> = rows.iter().filter(|r| r.file.starts_with(prefix)).collect();
        let parse: Duration = set.iter().map(|r| r.parse).sum();
        let check: Duration = set.iter().map(|r| r.check).sum();
        println!(
            "{label}: {} files, total {:.1} ms (parse {:.1} ms + check {:.1} ms)",
            set.len(),
            ms(parse + check),
            ms(parse),
            ms(check)
        );
    }
    let total: Duration = rows.iter().map(|r| r.parse + r.check).sum();
    println!(
        "all: {} files, total {:.1} ms, best of {runs} runs per file; verdicts matching expected.tsv: {}/{}",
        rows.len(),
        ms(total),
        rows.len() - mismatches,
        rows.len()
    );
    println!("Porcupine v1.3.0 reference (corpus README): about 1000 ms for the 102 etcd files");
    Ok(if mismatches == 0 { 0 } else { 1 })
}
