//! Linearizability: is there one instant inside each op's lifetime at which it took effect,
//! such that the ops in that order obey a sequential model (register, queue, mutex, ...)?
//!
//! Pipeline: pick the model ([`model`], inferred from the ops' `f` unless `--model`), split the
//! history into independent keys (P-compositionality: a history is linearizable iff every key's
//! sub-history is), translate each key's ops into model inputs ([`specs`]), and run the
//! Wing-Gong/Lowe search ([`search`]) on every key, in parallel on the available cores. A failed
//! key yields a `nonlinearizable` anomaly whose witness ([`witness`]) is the longest
//! linearizable prefix and the op that cannot follow it; `--out` also gets a picture
//! ([`html`]). A search that runs out of `--time-limit` makes the verdict unknown.

pub mod html;
pub mod model;
pub mod search;
pub mod specs;
pub mod witness;

use crate::check::{Analysis, CheckError, CheckOptions, Findings};
use crate::result::Artifact;
use crate::semantics::Semantics;
use history::{History, Op, OpId};
use model::{ModelInfo, ModelKind};
use search::{Budget, Limit, SearchOutcome, Spec};
use serde_json::{json, Value};
use specs::Prepared;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use witness::{TriedOp, Witness};

/// The linearizability analysis (anomaly type `nonlinearizable`).
pub struct Linearizability;

/// How one partition (key) came out.
#[derive(Debug, Clone)]
pub enum PartVerdict {
    Linearizable,
    Violation(Box<Witness>),
    /// The time limit (or the memory budget) ran out before the search finished.
    Exhausted(Limit),
    /// Not searched to the end: another key already proved the history nonlinearizable.
    Skipped,
}

/// One partition's result.
#[derive(Debug, Clone)]
pub struct PartResult {
    pub key: Option<Value>,
    /// The partition's ops (history op ids), in invocation order.
    pub ops: Vec<OpId>,
    pub verdict: PartVerdict,
    /// Search steps taken.
    pub explored: u64,
}

/// The result of checking a whole history.
#[derive(Debug, Clone)]
pub struct Report {
    pub model: &'static str,
    pub parts: Vec<PartResult>,
    /// The conventions the ops were read with (what `fail` and nil reads mean).
    pub semantics: Semantics,
}

impl Analysis for Linearizability {
    fn name(&self) -> &'static str {
        "linearizability"
    }
    fn detects(&self) -> &'static [&'static str] {
        &["nonlinearizable"]
    }
    fn applies(&self, h: &History) -> bool {
        !h.ops.is_empty()
            && h.ops.iter().all(|o| model::known_f(&o.f))
            && h.ops
                .iter()
                .filter(|o| o.f == "txn")
                .all(|o| knossos_txn(h, o))
    }
    fn run(
        &self,
        h: &History,
        opts: &CheckOptions,
        _forbidden: &BTreeSet<&'static str>,
        out: &mut Findings,
    ) -> Result<(), CheckError> {
        let report = check_history(h, opts)?;
        record(h, &report, out);
        Ok(())
    }
}

/// A txn whose micro-ops are Knossos reads and writes (not list appends).
fn knossos_txn(h: &History, o: &Op) -> bool {
    if let Some(t) = o.txn {
        return h.txns.mops(t).all(|m| m.f != history::txn::MopF::Append);
    }
    match &o.value {
        Value::Array(ms) => ms.iter().all(|m| {
            m.get(0)
                .and_then(Value::as_str)
                .is_some_and(|f| matches!(f, "read" | "write" | "r" | "w"))
        }),
        _ => false,
    }
}

/// Chooses the model: `--model`, or inferred from the ops.
pub fn select_model(h: &History, opts: &CheckOptions) -> Result<&'static ModelInfo, CheckError> {
    if let Some(name) = &opts.model {
        return model::by_name(name).ok_or_else(|| {
            CheckError::Usage(format!(
                "unknown linearizability model {name:?}; known models: {}",
                model::names()
            ))
        });
    }
    let fs: BTreeSet<&str> = h.ops.iter().map(|o| o.f.as_str()).collect();
    model::infer(&fs).ok_or_else(|| {
        CheckError::Usage(format!(
            "no linearizability model understands every operation in this history (f: {}); pass --model (one of {})",
            fs.into_iter().collect::<Vec<_>>().join(", "),
            model::names()
        ))
    })
}

/// Splits ops by independent key (or keeps them together for models that span keys).
///
/// Final-phase ops (`"phase": "final"`) are left out: they read each replica's own state after
/// the faults were healed, without coordination, for the convergence checks; they make no
/// real-time promise.
fn partitions(h: &History, per_key: bool) -> Vec<(Option<Value>, Vec<&Op>)> {
    let judged = h.ops.iter().filter(|o| !o.is_final());
    if !per_key {
        return vec![(None, judged.collect())];
    }
    let mut by_key: BTreeMap<String, (Option<Value>, Vec<&Op>)> = BTreeMap::new();
    for o in judged {
        let name = o.key().map(|k| k.to_string()).unwrap_or_default();
        by_key
            .entry(name)
            .or_insert_with(|| (o.key().cloned(), Vec::new()))
            .1
            .push(o);
    }
    by_key.into_values().collect()
}

fn default_initial(kind: ModelKind) -> Value {
    match kind {
        ModelKind::Kv => Value::from(""),
        ModelKind::Mutex => Value::Bool(false),
        ModelKind::Set | ModelKind::FifoQueue | ModelKind::UnorderedQueue => json!([]),
        _ => Value::Null,
    }
}

/// The conventions `h` is read with for the model `info` (see [`crate::semantics`]).
pub fn semantics(h: &History, opts: &CheckOptions, info: &ModelInfo) -> Semantics {
    Semantics::resolve(h, opts, info.kind == ModelKind::MultiRegister)
}

/// Search steps per key in the first pass. Keys still undecided after it are searched to the
/// end only if no key was found nonlinearizable (one such key decides the verdict).
const QUICK_STEPS: u64 = 200_000;

/// Checks every partition of `h` and returns the per-partition results, in key order.
pub fn check_history(h: &History, opts: &CheckOptions) -> Result<Report, CheckError> {
    let info = select_model(h, opts)?;
    let initial = opts
        .initial
        .clone()
        .unwrap_or_else(|| default_initial(info.kind));
    let parts = partitions(h, info.per_key);
    let sem = semantics(h, opts, info);
    let deadline = opts.time_limit.map(|d| Instant::now() + d);
    let cancel = AtomicBool::new(false);
    let run = |indices: &[usize], max_steps: u64| {
        let budget = Budget {
            deadline,
            cancel: &cancel,
            max_steps,
            max_cache_bytes: Budget::CACHE_BYTES,
        };
        in_parallel(&parts, indices, &cancel, |i| {
            let (key, ops) = &parts[i];
            let (verdict, explored) = check_partition(h, info, ops, &initial, &sem, &budget)?;
            Ok(PartResult {
                key: key.clone(),
                ops: ops.iter().map(|o| o.id).collect(),
                verdict,
                explored,
            })
        })
    };
    let all: Vec<usize> = (0..parts.len()).collect();
    // With one key there is nothing to spare: search it to the end at once.
    let quick = if parts.len() > 1 {
        QUICK_STEPS
    } else {
        u64::MAX
    };
    let mut results = run(&all, quick)?;
    let violated = results
        .iter()
        .any(|r| matches!(r.verdict, PartVerdict::Violation(_)));
    let unfinished: Vec<usize> = all
        .into_iter()
        .filter(|&i| matches!(results[i].verdict, PartVerdict::Exhausted(Limit::Steps)))
        .collect();
    if violated {
        for &i in &unfinished {
            results[i].verdict = PartVerdict::Skipped;
        }
    } else if !unfinished.is_empty() {
        let more = run(&unfinished, u64::MAX)?;
        for (i, r) in unfinished.into_iter().zip(more) {
            let explored = results[i].explored;
            results[i] = PartResult {
                explored: explored + r.explored,
                ..r
            };
        }
    }
    Ok(Report {
        model: info.name,
        parts: results,
        semantics: sem,
    })
}

/// Runs `work` on the partitions `indices`, biggest first, one worker per core; results come
/// back in the order of `indices`.
fn in_parallel<T: Send>(
    parts: &[(Option<Value>, Vec<&Op>)],
    indices: &[usize],
    cancel: &AtomicBool,
    work: impl Fn(usize) -> Result<T, CheckError> + Sync,
) -> Result<Vec<T>, CheckError> {
    let total: usize = indices.iter().map(|&i| parts[i].1.len()).sum();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(indices.len());
    let mut results: Vec<Option<Result<T, CheckError>>> = Vec::new();
    results.resize_with(indices.len(), || None);
    if threads <= 1 || total < 256 {
        for (slot, &i) in results.iter_mut().zip(indices) {
            *slot = Some(work(i));
        }
    } else {
        let mut order: Vec<usize> = (0..indices.len()).collect();
        order.sort_by_key(|&k| std::cmp::Reverse(parts[indices[k]].1.len()));
        let next = AtomicUsize::new(0);
        let slots = Mutex::new(&mut results);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&k) = order.get(n) else { break };
                    let r = work(indices[k]);
                    if r.is_err() {
                        cancel.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut slots) = slots.lock() {
                        slots[k] = Some(r);
                    }
                });
            }
        });
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(CheckError::Usage(
                    "internal error: a linearizability worker stopped without a result".into(),
                ))
            })
        })
        .collect()
}

fn check_partition(
    h: &History,
    info: &'static ModelInfo,
    ops: &[&Op],
    initial: &Value,
    sem: &Semantics,
    budget: &Budget,
) -> Result<(PartVerdict, u64), CheckError> {
    let source = h.source.as_str();
    let key = ops.first().and_then(|o| o.key().cloned());
    let m = info.name;
    Ok(match info.kind {
        ModelKind::Register => solve(
            specs::register(source, ops, initial, false, sem)?,
            m,
            key,
            budget,
        ),
        ModelKind::CasRegister => solve(
            specs::register(source, ops, initial, true, sem)?,
            m,
            key,
            budget,
        ),
        ModelKind::Kv => solve(specs::kv(source, ops, initial)?, m, key, budget),
        ModelKind::Mutex => solve(specs::mutex(source, ops, initial)?, m, key, budget),
        ModelKind::Set => solve(specs::set(source, ops, initial)?, m, key, budget),
        ModelKind::FifoQueue => solve(specs::queue(source, ops, initial, true)?, m, key, budget),
        ModelKind::UnorderedQueue => {
            solve(specs::queue(source, ops, initial, false)?, m, key, budget)
        }
        ModelKind::MultiRegister => solve(
            specs::multi_register(h, ops, initial, sem)?,
            m,
            None,
            budget,
        ),
    })
}

fn solve<M: Spec>(
    p: Prepared<M>,
    model: &'static str,
    key: Option<Value>,
    budget: &Budget,
) -> (PartVerdict, u64) {
    if let Some((c, reason)) = &p.impossible {
        let w = Witness {
            model,
            key,
            op: p.calls[*c].op,
            op_what: p.spec.show_input(&p.calls[*c].input),
            prefix: Vec::new(),
            state: p.spec.show_state(&p.init),
            tried: Vec::new(),
            reason: Some(reason.clone()),
        };
        return (PartVerdict::Violation(Box::new(w)), 0);
    }
    match search::search(&p.spec, p.init.clone(), &p.calls, budget) {
        SearchOutcome::Linearizable { explored } => (PartVerdict::Linearizable, explored),
        SearchOutcome::Exhausted { explored, limit } => (PartVerdict::Exhausted(limit), explored),
        SearchOutcome::Violation { stuck, explored } => {
            let what = |c: usize| p.spec.show_input(&p.calls[c].input);
            let w = Witness {
                model,
                key,
                op: p.calls[stuck.op].op,
                op_what: what(stuck.op),
                prefix: stuck
                    .prefix
                    .iter()
                    .map(|&c| (p.calls[c].op, what(c)))
                    .collect(),
                state: stuck.state.clone(),
                tried: stuck
                    .tried
                    .iter()
                    .map(|(c, t)| TriedOp {
                        op: p.calls[*c].op,
                        what: what(*c),
                        leads_to: match t {
                            search::Tried::Rejected => None,
                            search::Tried::DeadEnd(s) => Some(s.clone()),
                        },
                    })
                    .collect(),
                reason: None,
            };
            (PartVerdict::Violation(Box::new(w)), explored)
        }
    }
}

/// Turns a report into anomalies, unknown reasons, stats and the HTML artifact.
pub fn record(h: &History, report: &Report, out: &mut Findings) {
    let mut violations = 0;
    let mut exhausted = Vec::new();
    let mut skipped = 0;
    let mut out_of_memory = false;
    let mut explored = 0u64;
    for p in &report.parts {
        explored += p.explored;
        match &p.verdict {
            PartVerdict::Linearizable => {}
            PartVerdict::Violation(w) => {
                violations += 1;
                out.add(witness::to_anomaly(h, w));
            }
            PartVerdict::Exhausted(limit) => {
                out_of_memory |= *limit == Limit::Memory;
                exhausted.push(p);
            }
            PartVerdict::Skipped => skipped += 1,
        }
    }
    if !exhausted.is_empty() {
        let keys: Vec<String> = exhausted
            .iter()
            .filter_map(|p| p.key.as_ref().map(|k| k.to_string()))
            .take(5)
            .collect();
        let which = if keys.is_empty() {
            String::new()
        } else {
            let more = if exhausted.len() > 5 { ", ..." } else { "" };
            format!(" (key {}{more})", keys.join(", "))
        };
        out.unknown_reasons.push(format!(
            "the linearizability search ran out of its {} on {} of {} keys{which} before deciding; {}",
            if out_of_memory { "memory budget (2 GiB of explored states)" } else { "time limit" },
            exhausted.len(),
            report.parts.len(),
            if out_of_memory { "check fewer concurrent operations per key" } else { "raise --time-limit" }
        ));
    }
    out.stats.insert(
        "linearizability".into(),
        json!({
            "model": report.model,
            "keys": report.parts.len(),
            "nonlinearizable_keys": violations,
            "undecided_keys": exhausted.len(),
            "skipped_keys": skipped,
            "search_steps": explored,
        }),
    );
    let multi = report.model == "multi-register";
    out.stats
        .insert("semantics".into(), report.semantics.to_json(multi));
    if violations > 0 {
        out.artifacts.push(Artifact {
            name: "linearizability.html".into(),
            content: html::render(h, report),
        });
    }
}

#[cfg(test)]
mod tests;
