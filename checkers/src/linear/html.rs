//! `linearizability.html`: a self-contained page (inline CSS and SVG, no network) that draws
//! each non-linearizable key's ops as bars on per-process lanes over time, like Porcupine's
//! visualizer. Bars of the longest linearizable prefix are green and numbered in linearization
//! order, the op that cannot be linearized is red, the concurrent ops tried instead are orange,
//! crashed ops run dashed to the end of the history, and a red line marks the failure point.

use super::{witness, PartVerdict, Report};
use history::{History, Outcome};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Ops drawn per key: the failure point and this many ops before it (and a few after).
const BEFORE: usize = 250;
const AFTER: usize = 40;

/// Escapes text for HTML and SVG.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the page for the report's non-linearizable keys.
pub fn render(h: &History, report: &Report) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>faultline: linearizability</title>\n<style>\n");
    s.push_str("body{font-family:sans-serif;margin:1.5em;color:#222}h2{font-size:1.1em;margin-top:2em}\n.expl{max-width:70em;line-height:1.4}\n.scroll{overflow-x:auto;border:1px solid #ddd}\nrect.op{stroke:#555;stroke-width:1}rect.op:hover{stroke:#000;stroke-width:2}\n.prefix{fill:#9be39b}.stuck{fill:#f25c54}.tried{fill:#ffb347}.other{fill:#ddd}.crashed{stroke-dasharray:4 3;fill-opacity:.5}\ntext{font-size:10px;pointer-events:none}.lane{font-size:11px;fill:#333}\n.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #555}\n");
    s.push_str("</style></head><body>\n<h1>Linearizability</h1>\n");
    let _ = writeln!(
        s,
        "<p>Source: <code>{}</code>. Model: <b>{}</b>. {} key(s) checked.</p>",
        esc(&h.source),
        report.model,
        report.parts.len()
    );
    s.push_str("<p class=\"legend\"><span class=\"prefix\" style=\"background:#9be39b\">longest linearizable prefix (numbered in order)</span><span style=\"background:#f25c54\">cannot be linearized</span><span style=\"background:#ffb347\">tried instead</span><span style=\"background:#ddd\">other</span><span style=\"border-style:dashed\">crashed (may take effect until the end)</span></p>\n");
    let mut shown = 0;
    for p in &report.parts {
        let PartVerdict::Violation(w) = &p.verdict else {
            continue;
        };
        shown += 1;
        if shown > 10 {
            s.push_str("<p>More keys are not linearizable; see results.json.</p>\n");
            break;
        }
        let title = match &p.key {
            Some(k) => format!("Key {}", esc(&k.to_string())),
            None => "History".to_string(),
        };
        let _ = writeln!(s, "<h2>{title}: not linearizable</h2>");
        let _ = writeln!(s, "<p class=\"expl\">{}</p>", esc(&witness::explain(h, w)));
        draw(&mut s, h, &p.ops, w);
    }
    s.push_str("</body></html>\n");
    s
}

fn draw(s: &mut String, h: &History, ops: &[usize], w: &witness::Witness) {
    let at = ops.iter().position(|&o| o == w.op).unwrap_or(0);
    let lo = at.saturating_sub(BEFORE);
    let hi = (at + AFTER + 1).min(ops.len());
    let shown = &ops[lo..hi];
    let order: HashMap<usize, usize> = w
        .prefix
        .iter()
        .enumerate()
        .map(|(i, (o, _))| (*o, i + 1))
        .collect();
    let tried: HashMap<usize, &str> = w.tried.iter().map(|t| (t.op, t.what.as_str())).collect();
    let prefix_what: HashMap<usize, &str> =
        w.prefix.iter().map(|(o, x)| (*o, x.as_str())).collect();
    // Time axis: ranks of the event positions shown.
    let mut positions: Vec<usize> = Vec::new();
    for &o in shown {
        let op = &h.ops[o];
        positions.push(op.invoke_pos());
        if op.outcome != Outcome::Info {
            if let Some(c) = op.complete_pos() {
                positions.push(c);
            }
        }
    }
    positions.sort_unstable();
    positions.dedup();
    let rank = |p: usize| positions.partition_point(|&x| x < p);
    let end = positions.len() + 1;
    let mut lanes: BTreeMap<u64, usize> = BTreeMap::new();
    for &o in shown {
        lanes.insert(h.ops[o].process, 0);
    }
    for (i, v) in lanes.values_mut().enumerate() {
        *v = i;
    }
    let (step, lane_h, left) = (22usize, 22usize, 90usize);
    let width = left + (end + 1) * step;
    let height = lanes.len() * lane_h + 30;
    let _ = writeln!(
        s,
        "<div class=\"scroll\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"10\">"
    );
    for (p, &i) in &lanes {
        let y = 20 + i * lane_h;
        let _ = writeln!(
            s,
            "<text class=\"lane\" x=\"4\" y=\"{}\">process {p}</text><line x1=\"{left}\" x2=\"{width}\" y1=\"{}\" y2=\"{}\" stroke=\"#eee\"/>",
            y + 13,
            y + lane_h - 2,
            y + lane_h - 2
        );
    }
    let stuck = &h.ops[w.op];
    if let Some(c) = stuck
        .complete_pos()
        .filter(|_| stuck.outcome != Outcome::Info)
    {
        let x = left + rank(c) * step + step / 2;
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" x2=\"{x}\" y1=\"10\" y2=\"{height}\" stroke=\"#d00\" stroke-width=\"2\"><title>failure point: op {} completed here without a valid place in the order</title></line>",
            stuck.index
        );
    }
    for &o in shown {
        let op = &h.ops[o];
        let y = 20 + lanes[&op.process] * lane_h;
        let x0 = left + rank(op.invoke_pos()) * step;
        let crashed = op.outcome == Outcome::Info;
        let x1 = match op.complete_pos() {
            Some(c) if !crashed => left + rank(c) * step + step,
            _ => left + end * step,
        };
        let (class, what) = if o == w.op {
            ("stuck", w.op_what.as_str())
        } else if let Some(what) = prefix_what.get(&o) {
            ("prefix", *what)
        } else if let Some(what) = tried.get(&o) {
            ("tried", *what)
        } else {
            ("other", op.f.as_str())
        };
        let label = match order.get(&o) {
            Some(n) => format!("#{n} {what}"),
            None => what.to_string(),
        };
        let tip = format!(
            "op {} (process {}, {}, {}): {}{}",
            op.index,
            op.process,
            op.f,
            op.outcome.as_str(),
            label,
            if crashed {
                "; crashed: may take effect any time after its invocation"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "<g><rect class=\"op {class}{}\" fill=\"{}\" stroke=\"#555\"{} x=\"{x0}\" y=\"{y}\" width=\"{}\" height=\"{}\" rx=\"3\"><title>{}</title></rect><text x=\"{}\" y=\"{}\">{}</text></g>",
            if crashed { " crashed" } else { "" },
            match class {
                "stuck" => "#f25c54",
                "prefix" => "#9be39b",
                "tried" => "#ffb347",
                _ => "#dddddd",
            },
            if crashed { " stroke-dasharray=\"4 3\" fill-opacity=\"0.5\"" } else { "" },
            x1.saturating_sub(x0).max(4),
            lane_h - 6,
            esc(&tip),
            x0 + 3,
            y + 12,
            esc(&label.chars().take((x1.saturating_sub(x0)) / 6).collect::<String>())
        );
    }
    s.push_str("</svg></div>\n");
}
