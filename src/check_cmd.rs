//! `faultline check`: judge one or more history files (or directories of them).

use crate::junit::Junit;
use crate::{exit, report};
use anyhow::Context;
use checkers::semantics::{FailMeans, NilRead};
use checkers::{CheckError, CheckOptions, CheckResult};
use history::Format;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// History files or directories (every history file inside, recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Consistency models the history must satisfy, comma separated (default: by history shape).
    #[arg(long, value_delimiter = ',')]
    pub expect: Vec<String>,
    /// Input format (default: detected from the content).
    #[arg(long, value_parser = ["jsonl", "edn", "jepsen-log", "porcupine-kv"])]
    pub format: Option<String>,
    /// Sequential model for linearizability (default: inferred from the operations).
    #[arg(long)]
    pub model: Option<String>,
    /// Initial register value as JSON (default: null).
    #[arg(long)]
    pub initial: Option<String>,
    /// Search budget in seconds; an unfinished search gives verdict unknown (exit 3).
    #[arg(long)]
    pub time_limit: Option<f64>,
    /// What a failed op means: nothing (did not happen, observed nothing: Jepsen/Knossos),
    /// recorded (did not happen; a cas failed with error "precondition-failed" observed a
    /// mismatch: faultline's own histories), mismatch (every failed cas observed that the
    /// register did not hold its expected value: Porcupine's etcd model). Default: the
    /// convention of the history's format (docs/history-format.md).
    #[arg(long, value_parser = ["nothing", "recorded", "mismatch"])]
    pub fail_means: Option<String>,
    /// What an ok read of nil means in the register models: any (constrains nothing:
    /// Knossos) or value (the register held nil: faultline, Porcupine). Default: the
    /// convention of the history's format.
    #[arg(long, value_parser = ["any", "value"])]
    pub nil_read: Option<String>,
    /// Print the full results object as JSON (one line per file).
    #[arg(long)]
    pub json: bool,
    /// Write results.json, explanations and pictures to this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the verdicts as a JUnit XML report to this file (one test suite per history
    /// file, one test case per expected model; undecided models are errors).
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

/// Options shared by `check` and `run` once validated.
pub fn options(args: &CheckArgs) -> anyhow::Result<CheckOptions> {
    let initial =
        match &args.initial {
            None => None,
            Some(s) => Some(serde_json::from_str(s).with_context(|| {
                format!("--initial {s:?} is not valid JSON (e.g. 0, \"a\", null)")
            })?),
        };
    Ok(CheckOptions {
        expect: args.expect.clone(),
        model: args.model.clone(),
        initial,
        time_limit: args.time_limit.map(Duration::from_secs_f64),
        fail_means: args.fail_means.as_deref().and_then(FailMeans::parse),
        nil_read: args.nil_read.as_deref().and_then(NilRead::parse),
    })
}

pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let opts = match options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    let format = match args.format.as_deref() {
        None => None,
        Some(f) => Some(
            Format::parse(f)
                .with_context(|| format!("format {f:?} is not supported by this build"))?,
        ),
    };
    let files = expand(&args.paths)?;
    if files.is_empty() {
        eprintln!("error: no history files found in {:?}", args.paths);
        return Ok(exit::ERROR);
    }
    let many = files.len() > 1;
    let mut code = exit::VALID;
    let mut junit = args.junit.as_ref().map(|_| Junit::new());
    // Conventions other than faultline's own, and how many files were read with each.
    let mut semantics: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let out_dir = args.out.as_ref().map(|o| {
            if many {
                o.join(report::file_slug(file))
            } else {
                o.clone()
            }
        });
        let (c, line) = check_one(
            file,
            format,
            &opts,
            args.json,
            out_dir.as_deref(),
            many,
            junit.as_mut(),
        )?;
        if let Some(line) = line {
            *semantics.entry(line).or_default() += 1;
        }
        code = exit::worst(code, c);
    }
    if let (Some(j), Some(path)) = (&junit, &args.junit) {
        j.write(path)?;
    }
    if many && !args.json {
        for (line, n) in &semantics {
            println!("semantics of {n} of {} files: {line}", files.len());
        }
        println!("{}", report::overall_line(code, files.len()));
    }
    Ok(code)
}

/// Checks one file and prints its result; returns the exit code and, when the file was read
/// with conventions other than faultline's own, the line that says which.
fn check_one(
    file: &Path,
    format: Option<Format>,
    opts: &CheckOptions,
    json: bool,
    out: Option<&Path>,
    many: bool,
    junit: Option<&mut Junit>,
) -> anyhow::Result<(u8, Option<String>)> {
    let name = file.display().to_string();
    let (_, result) = match judge(file, format, opts, json, junit) {
        Ok(judged) => judged,
        Err(code) => return Ok((code, None)),
    };
    if let Some(dir) = out {
        report::write_out_dir(dir, &result)
            .with_context(|| format!("writing results to {}", dir.display()))?;
    }
    if json {
        println!("{}", report::json_line(&name, &result));
    } else {
        print!("{}", report::summary(&name, &result, many));
    }
    Ok((
        exit::of_verdict(result.valid),
        report::semantics_line(&result),
    ))
}

/// Loads and checks one history file, recording the outcome in `junit`: the history and its
/// results, or the exit code when it could not be judged (the error is printed, as JSON with
/// `json`). Shared by `check` and `run`.
pub fn judge(
    file: &Path,
    format: Option<Format>,
    opts: &CheckOptions,
    json: bool,
    mut junit: Option<&mut Junit>,
) -> Result<(history::History, CheckResult), u8> {
    let name = file.display().to_string();
    let started = Instant::now();
    let mut failed = |e: String| {
        report::print_error(&name, &e, json);
        if let Some(j) = junit.as_deref_mut() {
            j.failed(&name, &e);
        }
        exit::ERROR
    };
    let history = history::load_file(file, format).map_err(|e| failed(e.to_string()))?;
    let result = match checkers::check(&history, opts) {
        Ok(r) => r,
        Err(CheckError::Usage(m)) => {
            eprintln!("error: {m}");
            return Err(exit::USAGE);
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    if let Some(j) = junit {
        let summary = report::summary(&name, &result, false);
        j.checked(&name, &result, &summary, started.elapsed());
    }
    Ok((history, result))
}

/// Expands directories into the history files inside them (sorted, recursively).
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).with_context(|| format!("reading directory {}", p.display()))?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

const HISTORY_EXTENSIONS: &[&str] = &["jsonl", "json", "edn", "log", "txt"];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| HISTORY_EXTENSIONS.contains(&e))
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && n != "results.json")
        {
            out.push(p);
        }
    }
    Ok(())
}
