//! Transactional isolation checking in the manner of Elle: infer a dependency graph over the
//! committed transactions of a `txn` history (list-append or read-write register micro-ops),
//! find its cycles, name and explain each anomaly, and draw it.
//!
//! Stages: [`txns`] types the micro-ops; [`list_append`] / [`register`] infer per-key version
//! orders, data edges and the non-cycle anomalies; [`graph`] adds process and real-time edges
//! and builds the petgraph graph; [`cycles`] finds and classifies cycles within a time budget;
//! [`explain`] says why each edge holds (as data, then text); [`picture`] draws SVG and DOT.

pub mod cycles;
pub mod explain;
pub mod graph;
pub mod list_append;
pub mod picture;
pub mod register;
pub mod txns;

#[cfg(test)]
mod tests;

use crate::check::{Analysis, CheckError, CheckOptions, Findings};
use crate::result::Artifact;
use crate::Anomaly;
use explain::Evidence;
use history::History;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use txns::DataModel;

/// Search budget when the caller gives none.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(60);

/// The anomaly types that make this analysis run. It also reports `garbage-read` and
/// `duplicate-elements`, but those alone do not make it run: every model forbids them, so
/// listing them would run the analysis (and call the history valid) for models it does not
/// check, such as the session guarantees.
pub const TYPES: &[&str] = &[
    "G0",
    "G0-process",
    "G0-realtime",
    "G1c",
    "G1c-process",
    "G1c-realtime",
    "G-single",
    "G-single-process",
    "G-single-realtime",
    "G-single-item",
    "G-single-item-process",
    "G-single-item-realtime",
    "G-nonadjacent",
    "G-nonadjacent-process",
    "G-nonadjacent-realtime",
    "G-nonadjacent-item",
    "G-nonadjacent-item-process",
    "G-nonadjacent-item-realtime",
    "G2-item",
    "G2-item-process",
    "G2-item-realtime",
    "G1a",
    "G1b",
    "internal",
    "lost-update",
    "dirty-update",
    "incompatible-order",
    "future-read",
    "cyclic-versions",
    "empty-transaction-graph",
    "cycle-search-timeout",
];

/// The isolation analysis for `f = "txn"` histories.
#[derive(Debug, Clone, Copy, Default)]
pub struct Isolation;

impl Analysis for Isolation {
    fn name(&self) -> &'static str {
        "isolation"
    }
    fn detects(&self) -> &'static [&'static str] {
        TYPES
    }
    fn applies(&self, h: &History) -> bool {
        txns::has_txns(h)
    }
    /// Read/write transactions checked as Knossos's atomic `multi-register` are decided by the
    /// linearizability search (which also knows `--initial`), unless an isolation model is
    /// named.
    fn decided_by(&self) -> &'static [&'static str] {
        &["linearizability"]
    }
    fn run(
        &self,
        h: &History,
        opts: &CheckOptions,
        forbidden: &BTreeSet<&'static str>,
        out: &mut Findings,
    ) -> Result<(), CheckError> {
        let r = analyze(h, opts, forbidden)?;
        out.extend(r.anomalies);
        out.artifacts.extend(r.artifacts);
        out.stats.insert("isolation".into(), Value::Object(r.stats));
        Ok(())
    }
}

/// Everything the analysis produced.
#[derive(Debug, Default)]
pub struct Report {
    pub anomalies: Vec<Anomaly>,
    pub cycles: Vec<explain::CycleExplanation>,
    pub artifacts: Vec<Artifact>,
    pub stats: serde_json::Map<String, Value>,
}

/// Runs the analysis. Process edges are added when a `-process` type is forbidden, real-time
/// edges when a `-realtime` type is.
pub fn analyze(
    h: &History,
    opts: &CheckOptions,
    forbidden: &BTreeSet<&'static str>,
) -> Result<Report, CheckError> {
    let started = Instant::now();
    let txns = txns::collect(h)?;
    let t_parse = started.elapsed();
    let mut rep = Report::default();
    let ok = txns.all.iter().filter(|t| t.is_ok()).count();
    rep.stats
        .insert("data_model".into(), json!(txns.model.as_str()));
    rep.stats.insert("txns".into(), json!(txns.all.len()));
    rep.stats.insert("committed".into(), json!(ok));
    if ok == 0 {
        rep.anomalies.push(Anomaly::new(
            "empty-transaction-graph",
            vec![],
            format!(
                "the history has {} transactions but none committed (ok), so there is nothing to check",
                txns.all.len()
            ),
        ));
        return Ok(rep);
    }
    let evidence = match txns.model {
        DataModel::ListAppend => Evidence::List(list_append::index(&txns)),
        DataModel::Register => Evidence::Register(register::index(&txns)),
    };
    match &evidence {
        Evidence::List(_) => rep
            .stats
            .insert("version_order".into(), json!("longest read per key")),
        Evidence::Register(ix) => rep.stats.insert(
            "version_order".into(),
            json!(ix.rules_used.iter().collect::<Vec<_>>()),
        ),
    };
    let t_index = started.elapsed();
    let want_process = forbidden
        .iter()
        .any(|f| f.ends_with("-process") || f.ends_with("-realtime"));
    let want_realtime = forbidden.iter().any(|f| f.ends_with("-realtime"));
    // The non-cycle detectors and the graph are independent: run them on two threads.
    let (found, (dg, search, t_graph)) = std::thread::scope(|s| {
        let detectors = s.spawn(|| non_cycle_cases(&txns, &evidence));
        let mut edges = graph::EdgeSet::default();
        match &evidence {
            Evidence::List(ix) => list_append::edges(&txns, ix, &mut edges),
            Evidence::Register(ix) => register::edges(&txns, ix, &mut edges),
        }
        if want_process {
            graph::process_edges(&txns, &mut edges);
        }
        if want_realtime {
            graph::realtime_edges(h, &txns, &mut edges);
        }
        let dg = edges.build(txns.all.len());
        let t_graph = started.elapsed();
        // The budget is for the cycle search (the other stages are linear).
        let deadline = Instant::now() + opts.time_limit.unwrap_or(DEFAULT_TIME_LIMIT);
        let search = cycles::search(&dg, forbidden, Some(deadline));
        let found = match detectors.join() {
            Ok(found) => found,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (found, (dg, search, t_graph))
    });
    rep.anomalies.extend(found);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in &search.cycles {
        let e = explain::explain(h, &txns, &evidence, c);
        let n = counts.entry(c.kind.clone()).or_insert(0);
        *n += 1;
        let ops: Vec<u64> = e.txns.iter().map(|t| t.op).collect();
        let text = explain::render(&e);
        rep.artifacts.push(Artifact {
            name: format!("isolation/{}-{}.svg", c.kind, n),
            content: picture::svg(&e),
        });
        rep.artifacts.push(Artifact {
            name: format!("isolation/{}-{}.dot", c.kind, n),
            content: picture::dot(&e),
        });
        rep.anomalies.push(
            Anomaly::new(c.kind.clone(), ops, text)
                .with_data("cycle", serde_json::to_value(&e).unwrap_or(Value::Null)),
        );
        rep.cycles.push(e);
    }
    if search.timed_out > 0 {
        rep.anomalies.push(Anomaly::new(
            "cycle-search-timeout",
            vec![],
            format!(
                "the cycle search ran out of its {:.1} s budget in {} of {} strongly connected components; the cycles reported are the ones found so far (or by a cheaper search), others may exist",
                opts.time_limit.unwrap_or(DEFAULT_TIME_LIMIT).as_secs_f64(),
                search.timed_out,
                search.sccs
            ),
        ));
    }
    let kinds = graph::KINDS
        .iter()
        .zip(dg.counts)
        .map(|(&k, c)| (graph::rel_name(k).to_string(), json!(c)))
        .collect::<serde_json::Map<_, _>>();
    rep.stats.insert("edges".into(), Value::Object(kinds));
    rep.stats.insert("sccs".into(), json!(search.sccs));
    rep.stats
        .insert("largest_scc".into(), json!(search.largest_scc));
    rep.stats
        .insert("parse_ms".into(), json!(t_parse.as_millis() as u64));
    rep.stats
        .insert("index_ms".into(), json!(t_index.as_millis() as u64));
    rep.stats
        .insert("graph_ms".into(), json!(t_graph.as_millis() as u64));
    rep.stats.insert(
        "total_ms".into(),
        json!(started.elapsed().as_millis() as u64),
    );
    Ok(rep)
}

/// Every non-cycle detector for the history's data model.
fn non_cycle_cases(txns: &txns::Txns, ev: &Evidence) -> Vec<Anomaly> {
    let mut out = Vec::new();
    match ev {
        Evidence::List(ix) => {
            out.extend(list_append::garbage_read_cases(txns, ix));
            out.extend(list_append::g1a_cases(txns, ix));
            out.extend(list_append::g1b_cases(txns, ix));
            out.extend(list_append::incompatible_order_cases(txns, ix));
            out.extend(list_append::dirty_update_cases(txns, ix));
            out.extend(list_append::duplicate_elements_cases(txns, ix));
            out.extend(list_append::internal_cases(txns));
            out.extend(list_append::future_read_cases(txns));
            out.extend(list_append::lost_update_cases(txns));
        }
        Evidence::Register(ix) => {
            out.extend(register::read_cases(txns, ix));
            out.extend(register::internal_cases(txns));
            out.extend(register::future_read_cases(txns, ix));
            out.extend(register::lost_update_cases(txns));
            out.extend(register::cyclic_versions_cases(txns, ix));
        }
    }
    out
}
