//! `faultline bench porcupine-diff`: a differential run of faultline's linearizability checker
//! against Porcupine itself on thousands of generated histories.
//!
//! Each history is written in one of the two formats Porcupine's own tests read, so that
//! Porcupine runs with its own parsers and models, unchanged: a Jepsen etcd log (`*.log`, one
//! register, read / write / cas over small integers, nil reads, failed cas, timed-out reads,
//! crashed ops that stay pending) checked with its etcd model, and a kv log (`*.txt`, several
//! keys, get / put / append, crashed writes) checked with its kv model partitioned by key.
//! The histories come from a simulated single-copy store whose ops take effect at a random
//! point inside their interval; with `--bug-rate`, some of them return a wrong result (a stale
//! or made-up read, a cas that reports the other outcome, a lost write), so that both valid and
//! invalid histories are well represented. Generation is deterministic for `--seed`.
//!
//! The reference is an executable given by `--porcupine PATH` that takes files and prints
//! `FILE<TAB>linearizable|nonlinearizable|unknown<TAB>MS` per line (docs/linearizability.md
//! describes the 40-line Go program over Porcupine v1.3.0's API and the models of its tests).
//! faultline checks the same files in this process. Disagreements are listed and their files
//! kept in `--keep DIR` for a hand check; the command exits 1 when there is any.

use anyhow::{bail, Context};
use checkers::{CheckOptions, Verdict};
use history::sim::SplitMix64;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The reference checker (see the module docs for its interface).
    #[arg(long)]
    pub porcupine: PathBuf,
    /// Histories to generate (half etcd logs, half kv logs).
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// Seed of the generated histories.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Largest number of operations per history (each gets a size in 10..=max).
    #[arg(long, default_value_t = 120)]
    pub max_ops: usize,
    /// Largest number of concurrent processes per history (each gets 2..=max).
    #[arg(long, default_value_t = 8)]
    pub max_processes: usize,
    /// Fraction of operations that return a wrong result, in histories chosen to be buggy
    /// (half of them).
    #[arg(long, default_value_t = 0.03)]
    pub bug_rate: f64,
    /// Seconds each tool may spend on one history; beyond it the verdict is unknown.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Keep every generated history here (default: only a temporary directory, removed at
    /// the end; disagreements are then copied to ./porcupine-diff-disagreements).
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// One generated history's shape.
struct Shape {
    ops: usize,
    processes: usize,
    values: u64,
    crash: f64,
    bug: f64,
}

fn shape(rng: &mut SplitMix64, args: &Args) -> Shape {
    let max_ops = args.max_ops.max(10);
    let max_p = args.max_processes.max(2);
    Shape {
        ops: 10 + rng.below((max_ops - 9) as u64) as usize,
        processes: 2 + rng.below((max_p - 1) as u64) as usize,
        values: 2 + rng.below(4),
        crash: [0.0, 0.02, 0.08][rng.below(3) as usize],
        bug: if rng.chance(0.5) { args.bug_rate } else { 0.0 },
    }
}

/// A pending operation of the simulated store.
struct Pending<I, O> {
    process: usize,
    input: I,
    /// Set when the op has taken effect.
    output: Option<O>,
}

/// Which of the simulation's moves to make next; `None` when the history is complete.
enum Move {
    Invoke(usize),
    Apply(usize),
    Complete(usize),
    Crash(usize),
}

/// Drives the interleaving shared by both generators: invocations up to `sh.ops`, each
/// pending op applied (linearized) and completed later, some crashed. `slots[i]` is the
/// process id of worker i (`None` when idle); crashed workers come back as a new process.
fn next_move<I, O>(
    rng: &mut SplitMix64,
    sh: &Shape,
    invoked: usize,
    busy: &[bool],
    pending: &[Pending<I, O>],
) -> Option<Move> {
    let idle: Vec<usize> = (0..busy.len()).filter(|&w| !busy[w]).collect();
    let can_invoke = invoked < sh.ops && !idle.is_empty();
    if pending.is_empty() && !can_invoke {
        return None;
    }
    loop {
        match rng.below(4) {
            0 if can_invoke => {
                return Some(Move::Invoke(idle[rng.below(idle.len() as u64) as usize]))
            }
            1 if !pending.is_empty() => {
                let i = rng.below(pending.len() as u64) as usize;
                if pending[i].output.is_none() {
                    return Some(Move::Apply(i));
                }
            }
            2 | 3 if !pending.is_empty() => {
                let i = rng.below(pending.len() as u64) as usize;
                if pending[i].output.is_some() {
                    if rng.chance(sh.crash) {
                        return Some(Move::Crash(i));
                    }
                    return Some(Move::Complete(i));
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy)]
enum RegOp {
    Read,
    Write(u64),
    Cas(u64, u64),
}

#[derive(Clone, Copy)]
enum RegOut {
    Read(Option<u64>),
    Done,
    Cas(bool),
}

/// A Jepsen etcd log of one register, as Porcupine's `parseJepsenLog` reads it.
fn etcd_log(rng: &mut SplitMix64, sh: &Shape) -> String {
    let mut out = String::new();
    let mut state: Option<u64> = None;
    let mut workers: Vec<usize> = (0..sh.processes).collect();
    let mut next_process = sh.processes;
    let mut busy = vec![false; sh.processes];
    let mut worker_of: Vec<usize> = Vec::new();
    let mut pending: Vec<Pending<RegOp, RegOut>> = Vec::new();
    // Crashed ops that have not taken effect yet: they may still do so, at any later time.
    let mut zombies: Vec<RegOp> = Vec::new();
    let mut invoked = 0;
    let line = |out: &mut String, p: usize, typ: &str, f: &str, v: &str| {
        let _ = writeln!(out, "INFO  jepsen.util - {p}\t{typ}\t{f}\t{v}");
    };
    let apply = |state: &mut Option<u64>, op: RegOp| match op {
        RegOp::Read => RegOut::Read(*state),
        RegOp::Write(v) => {
            *state = Some(v);
            RegOut::Done
        }
        RegOp::Cas(a, b) => {
            if *state == Some(a) {
                *state = Some(b);
                RegOut::Cas(true)
            } else {
                RegOut::Cas(false)
            }
        }
    };
    while let Some(m) = next_move(rng, sh, invoked, &busy, &pending) {
        if !zombies.is_empty() && rng.chance(0.1) {
            let z = zombies.swap_remove(rng.below(zombies.len() as u64) as usize);
            apply(&mut state, z);
        }
        match m {
            Move::Invoke(w) => {
                invoked += 1;
                busy[w] = true;
                let p = workers[w];
                let op = match rng.below(10) {
                    0..=3 => RegOp::Read,
                    4..=6 => RegOp::Write(rng.below(sh.values)),
                    _ => RegOp::Cas(rng.below(sh.values), rng.below(sh.values)),
                };
                match op {
                    RegOp::Read => line(&mut out, p, ":invoke", ":read", "nil"),
                    RegOp::Write(v) => line(&mut out, p, ":invoke", ":write", &v.to_string()),
                    RegOp::Cas(a, b) => line(&mut out, p, ":invoke", ":cas", &format!("[{a} {b}]")),
                }
                worker_of.push(w);
                pending.push(Pending {
                    process: p,
                    input: op,
                    output: None,
                });
            }
            Move::Apply(i) => {
                let op = pending[i].input;
                let mut o = if rng.chance(sh.bug) && matches!(op, RegOp::Write(_)) {
                    RegOut::Done // a lost write: acknowledged, never applied
                } else {
                    apply(&mut state, op)
                };
                if rng.chance(sh.bug) {
                    o = match o {
                        RegOut::Read(_) if rng.chance(0.3) => RegOut::Read(None),
                        RegOut::Read(_) => RegOut::Read(Some(rng.below(sh.values))),
                        RegOut::Cas(ok) => RegOut::Cas(!ok),
                        RegOut::Done => RegOut::Done,
                    };
                }
                pending[i].output = Some(o);
            }
            Move::Complete(i) => {
                let p = pending.swap_remove(i);
                let w = worker_of.swap_remove(i);
                busy[w] = false;
                match (p.input, p.output.expect("applied")) {
                    (RegOp::Read, _) if rng.chance(0.03) => {
                        line(&mut out, p.process, ":fail", ":read", ":timed-out")
                    }
                    (RegOp::Read, RegOut::Read(v)) => {
                        let v = v.map_or("nil".to_string(), |v| v.to_string());
                        line(&mut out, p.process, ":ok", ":read", &v)
                    }
                    (RegOp::Write(v), _) => {
                        line(&mut out, p.process, ":ok", ":write", &v.to_string())
                    }
                    (RegOp::Cas(a, b), RegOut::Cas(ok)) => line(
                        &mut out,
                        p.process,
                        if ok { ":ok" } else { ":fail" },
                        ":cas",
                        &format!("[{a} {b}]"),
                    ),
                    _ => unreachable!("outputs match their inputs"),
                }
            }
            Move::Crash(i) => {
                // The op stays pending to the end of the history (no completion line, as in
                // Jepsen's etcd logs); the worker comes back as a new process.
                let _ = pending.swap_remove(i);
                let w = worker_of.swap_remove(i);
                busy[w] = false;
                workers[w] = next_process;
                next_process += 1;
            }
        }
        // A crash before the op took effect: sometimes it takes effect later, sometimes never.
        if rng.chance(sh.crash / 2.0) {
            if let Some(i) = (0..pending.len()).find(|&i| pending[i].output.is_none()) {
                let p = pending.swap_remove(i);
                let w = worker_of.swap_remove(i);
                busy[w] = false;
                workers[w] = next_process;
                next_process += 1;
                if rng.chance(0.5) {
                    zombies.push(p.input);
                }
            }
        }
    }
    out
}

#[derive(Clone)]
enum KvOp {
    Get(String),
    Put(String, String),
    Append(String, String),
}

/// A kv log over several keys, as Porcupine's `parseKvLog` reads it. Only puts and appends
/// crash: Porcupine's parser completes a pending get with the empty string.
fn kv_log(rng: &mut SplitMix64, sh: &Shape) -> String {
    let keys = 1 + rng.below(4);
    let mut out = String::new();
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    let mut workers: Vec<usize> = (0..sh.processes).collect();
    let mut next_process = sh.processes;
    let mut busy = vec![false; sh.processes];
    let mut worker_of: Vec<usize> = Vec::new();
    let mut pending: Vec<Pending<KvOp, String>> = Vec::new();
    let mut invoked = 0;
    let mut counter = 0u64;
    let ev = |out: &mut String, p: usize, typ: &str, op: &KvOp, value: Option<&str>| {
        let (f, k, v) = match op {
            KvOp::Get(k) => ("get", k, value),
            KvOp::Put(k, v) => ("put", k, Some(v.as_str())),
            KvOp::Append(k, v) => ("append", k, Some(v.as_str())),
        };
        let v = v.map_or("nil".to_string(), |v| format!("\"{v}\""));
        let _ = writeln!(
            out,
            "{{:process {p}, :type :{typ}, :f :{f}, :key \"{k}\", :value {v}}}"
        );
    };
    while let Some(m) = next_move(rng, sh, invoked, &busy, &pending) {
        match m {
            Move::Invoke(w) => {
                invoked += 1;
                busy[w] = true;
                let p = workers[w];
                let k = rng.below(keys).to_string();
                counter += 1;
                let v = format!("x {p} {counter} y");
                let op = match rng.below(10) {
                    0..=4 => KvOp::Get(k),
                    5..=6 => KvOp::Put(k, v),
                    _ => KvOp::Append(k, v),
                };
                ev(&mut out, p, "invoke", &op, None);
                worker_of.push(w);
                pending.push(Pending {
                    process: p,
                    input: op,
                    output: None,
                });
            }
            Move::Apply(i) => {
                let lost = rng.chance(sh.bug);
                let o = match &pending[i].input {
                    KvOp::Get(k) => {
                        let v = state.get(k).cloned().unwrap_or_default();
                        if lost {
                            // A stale read: the value without its last append, or empty.
                            v.rfind('x').map_or(String::new(), |at| v[..at].to_string())
                        } else {
                            v
                        }
                    }
                    KvOp::Put(k, v) => {
                        if !lost {
                            state.insert(k.clone(), v.clone());
                        }
                        String::new()
                    }
                    KvOp::Append(k, v) => {
                        if !lost {
                            state.entry(k.clone()).or_default().push_str(v);
                        }
                        String::new()
                    }
                };
                pending[i].output = Some(o);
            }
            Move::Complete(i) | Move::Crash(i) => {
                let crash =
                    matches!(m, Move::Crash(_)) && !matches!(pending[i].input, KvOp::Get(_));
                let p = pending.swap_remove(i);
                let w = worker_of.swap_remove(i);
                busy[w] = false;
                if crash {
                    workers[w] = next_process;
                    next_process += 1;
                } else {
                    let v = p.output.expect("applied");
                    ev(&mut out, p.process, "ok", &p.input, Some(&v));
                }
            }
        }
    }
    out
}

/// A verdict and how long it took.
#[derive(Clone, Copy)]
struct Timed {
    verdict: Verdict,
    time: Duration,
}

fn faultline_verdicts(files: &[PathBuf], timeout: f64) -> anyhow::Result<Vec<Timed>> {
    let opts = CheckOptions {
        expect: vec!["linearizable".into()],
        time_limit: Some(Duration::from_secs_f64(timeout)),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let t0 = Instant::now();
        let h = history::load_file(f, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let r = checkers::check(&h, &opts).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        out.push(Timed {
            verdict: r.valid,
            time: t0.elapsed(),
        });
    }
    Ok(out)
}

fn porcupine_verdicts(exe: &Path, files: &[PathBuf], timeout: f64) -> anyhow::Result<Vec<Timed>> {
    let mut by_file: BTreeMap<String, Timed> = BTreeMap::new();
    // A few hundred files per call keeps the command line short.
    for chunk in files.chunks(500) {
        let out = std::process::Command::new(exe)
            .arg("-timeout")
            .arg(timeout.to_string())
            .args(chunk)
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{} exited with {}: {}",
                exe.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut it = line.split('\t');
            let (Some(f), Some(v), Some(ms)) = (it.next(), it.next(), it.next()) else {
                bail!("{}: unexpected output line {line:?}", exe.display());
            };
            let verdict = match v {
                "linearizable" => Verdict::Valid,
                "nonlinearizable" => Verdict::Invalid,
                _ => Verdict::Unknown,
            };
            let ms: f64 = ms.parse().unwrap_or(0.0);
            by_file.insert(
                f.to_string(),
                Timed {
                    verdict,
                    time: Duration::from_secs_f64(ms / 1e3),
                },
            );
        }
    }
    files
        .iter()
        .map(|f| {
            by_file
                .get(&f.display().to_string())
                .copied()
                .with_context(|| format!("{} gave no verdict for {}", exe.display(), f.display()))
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if !args.porcupine.is_file() {
        bail!(
            "--porcupine {}: no such executable (docs/linearizability.md says how to build it)",
            args.porcupine.display()
        );
    }
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = args
        .keep
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = SplitMix64::new(args.seed);
    let mut files = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let sh = shape(&mut rng, &args);
        let (name, text) = if i % 2 == 0 {
            (format!("h{i:05}.log"), etcd_log(&mut rng, &sh))
        } else {
            (format!("h{i:05}.txt"), kv_log(&mut rng, &sh))
        };
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        files.push(path);
    }
    println!(
        "porcupine-diff: {} histories (seed {}, up to {} ops, {} processes), timeout {} s",
        files.len(),
        args.seed,
        args.max_ops,
        args.max_processes,
        args.timeout
    );
    let ours = faultline_verdicts(&files, args.timeout)?;
    let theirs = porcupine_verdicts(&args.porcupine, &files, args.timeout)?;
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut disagree = Vec::new();
    let (mut our_time, mut their_time) = (Duration::ZERO, Duration::ZERO);
    for ((f, a), b) in files.iter().zip(&ours).zip(&theirs) {
        *counts
            .entry((a.verdict.as_str(), b.verdict.as_str()))
            .or_default() += 1;
        our_time += a.time;
        their_time += b.time;
        if a.verdict != Verdict::Unknown && b.verdict != Verdict::Unknown && a.verdict != b.verdict
        {
            disagree.push(f.clone());
        }
    }
    println!("{:>16} {:>16} {:>8}", "faultline", "porcupine", "files");
    for ((a, b), n) in &counts {
        println!("{a:>16} {b:>16} {n:>8}");
    }
    let decided: usize = counts
        .iter()
        .filter(|((a, b), _)| *a != "unknown" && *b != "unknown")
        .map(|(_, n)| n)
        .sum();
    println!(
        "both decided: {decided}; agree: {}; disagree: {}",
        decided - disagree.len(),
        disagree.len()
    );
    println!(
        "time: faultline {:.3} s (parse + check, in process), porcupine {:.3} s (its own per-file times)",
        our_time.as_secs_f64(),
        their_time.as_secs_f64()
    );
    if !disagree.is_empty() {
        let keep = args
            .keep
            .clone()
            .unwrap_or_else(|| PathBuf::from("porcupine-diff-disagreements"));
        std::fs::create_dir_all(&keep)?;
        for f in &disagree {
            let to = keep.join(f.file_name().expect("a file name"));
            if &to != f {
                std::fs::copy(f, &to)?;
            }
            println!("DISAGREE {}", to.display());
        }
        return Ok(1);
    }
    Ok(0)
}
