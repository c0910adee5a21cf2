//! Pictures of a cycle, without Graphviz: an SVG drawn with our own circular layout
//! (transactions as boxes on a circle, edges as labelled arrows), and the DOT source for
//! people who prefer Graphviz.

use super::explain::{CycleExplanation, Why};
use std::fmt::Write;

const BOX_W: f64 = 170.0;
const BOX_H: f64 = 46.0;

use crate::linear::html::esc;
use history::txn::show_value as show;

/// The short label of an edge: kind and key, e.g. `rw y`.
pub fn edge_label(e: &CycleExplanation, i: usize) -> String {
    let st = &e.steps[i];
    match &st.why {
        Why::Observed { key, .. } | Why::DidNotObserve { key, .. } | Why::Overwrote { key, .. } => {
            format!("{} {}", st.rel, show(key))
        }
        Why::Session { process } => format!("process {process}"),
        _ => st.rel.to_string(),
    }
}

fn color(rel: &str) -> &'static str {
    match rel {
        "ww" => "#1f77b4",
        "wr" => "#2ca02c",
        "rw" => "#d62728",
        "process" => "#9467bd",
        "realtime" => "#ff7f0e",
        _ => "#555555",
    }
}

/// Positions of the boxes' centres on a circle.
fn layout(n: usize) -> (Vec<(f64, f64)>, f64, f64) {
    // Neighbours on the circle stay a box width (plus room for a label) apart.
    let r = if n > 2 {
        ((BOX_W + 60.0) / (2.0 * (std::f64::consts::PI / n as f64).sin())).max(110.0)
    } else {
        110.0
    };
    let (w, h) = (2.0 * r + BOX_W + 80.0, 2.0 * r + BOX_H + 110.0);
    let (cx, cy) = (w / 2.0, h / 2.0 + 10.0);
    let pts = (0..n)
        .map(|i| {
            let a = -std::f64::consts::FRAC_PI_2 + i as f64 * std::f64::consts::TAU / n as f64;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    (pts, w, h)
}

/// Where the segment from the centre `c` towards `p` leaves the box around `c`.
fn box_exit(c: (f64, f64), p: (f64, f64)) -> (f64, f64) {
    let (dx, dy) = (p.0 - c.0, p.1 - c.1);
    let tx = if dx.abs() > 1e-9 {
        (BOX_W / 2.0 + 4.0) / dx.abs()
    } else {
        f64::INFINITY
    };
    let ty = if dy.abs() > 1e-9 {
        (BOX_H / 2.0 + 4.0) / dy.abs()
    } else {
        f64::INFINITY
    };
    let t = tx.min(ty).min(1.0);
    (c.0 + dx * t, c.1 + dy * t)
}

/// The SVG picture of a cycle.
pub fn svg(e: &CycleExplanation) -> String {
    let n = e.txns.len();
    let (mut pts, w, h) = layout(n);
    // The edge kinds present, for the legend, which must fit.
    let mut kinds: Vec<&str> = Vec::new();
    for st in &e.steps {
        if !kinds.contains(&st.rel) {
            kinds.push(st.rel);
        }
    }
    let legend_w: f64 = kinds
        .iter()
        .map(|k| 7.0 * legend(k).len() as f64 + 18.0)
        .sum::<f64>()
        + 24.0;
    let w = if legend_w > w {
        let shift = (legend_w - w) / 2.0;
        pts.iter_mut().for_each(|p| p.0 += shift);
        legend_w
    } else {
        w
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" font-size="13">"#
    );
    s.push_str("<defs>");
    for rel in ["ww", "wr", "rw", "process", "realtime", "mixed"] {
        let _ = write!(
            s,
            r#"<marker id="arrow-{rel}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{}"/></marker>"#,
            color(rel)
        );
    }
    s.push_str("</defs>\n");
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="12" y="22" font-size="15" font-weight="bold">{}</text>"#,
        esc(&e.kind)
    );
    for (i, st) in e.steps.iter().enumerate() {
        let (p, q) = (pts[st.from], pts[st.to]);
        // Offset sideways so that a -> b and b -> a do not overlap.
        let (dx, dy) = (q.0 - p.0, q.1 - p.1);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        let (ox, oy) = (-dy / len * 10.0, dx / len * 10.0);
        let (p, q) = ((p.0 + ox, p.1 + oy), (q.0 + ox, q.1 + oy));
        let a = box_exit(p, q);
        let b = box_exit(q, p);
        let c = color(st.rel);
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{c}" stroke-width="2" marker-end="url(#arrow-{})"/>"#,
            a.0, a.1, b.0, b.1, st.rel
        );
        // The label sits beside its own arrow, on the side of the offset.
        let (mx, my) = (
            (a.0 + b.0) / 2.0 + ox * 0.6,
            (a.1 + b.1) / 2.0 + oy * 0.6 + 4.0,
        );
        let anchor = if ox > 3.0 {
            "start"
        } else if ox < -3.0 {
            "end"
        } else {
            "middle"
        };
        let my = if anchor == "middle" {
            my + oy * 0.8
        } else {
            my
        };
        let _ = writeln!(
            s,
            r#"<text x="{mx:.1}" y="{my:.1}" fill="{c}" text-anchor="{anchor}" paint-order="stroke" stroke="white" stroke-width="4">{}</text>"#,
            esc(&edge_label(e, i))
        );
    }
    for (t, &(x, y)) in e.txns.iter().zip(&pts) {
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#f7f7f7" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11">op {} · process {}</text>"##,
            x - BOX_W / 2.0,
            y - BOX_H / 2.0,
            y - 4.0,
            esc(&t.name),
            y + 13.0,
            t.op,
            t.process
        );
    }
    // Legend: the edge kinds present, in their colours.
    let mut x = 12.0;
    for k in kinds {
        let _ = write!(
            s,
            r#"<text x="{x:.0}" y="{:.0}" fill="{}" font-size="12">{}</text>"#,
            h - 12.0,
            color(k),
            esc(&legend(k))
        );
        x += 7.0 * legend(k).len() as f64 + 18.0;
    }
    s.push_str("\n</svg>\n");
    s
}

fn legend(rel: &str) -> String {
    match rel {
        "ww" => "ww: overwrote".into(),
        "wr" => "wr: read from".into(),
        "rw" => "rw: did not see".into(),
        "process" => "process: session order".into(),
        "realtime" => "realtime: finished before".into(),
        other => other.into(),
    }
}

/// The Graphviz DOT source of a cycle.
pub fn dot(e: &CycleExplanation) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", e.kind);
    s.push_str("  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n");
    for t in &e.txns {
        let _ = writeln!(
            s,
            "  {} [label=\"{}\\nop {} · process {}\"];",
            t.name, t.name, t.op, t.process
        );
    }
    for (i, st) in e.steps.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {} -> {} [label=\"{}\", color=\"{}\"];",
            e.txns[st.from].name,
            e.txns[st.to].name,
            edge_label(e, i).replace('"', "\\\""),
            color(st.rel)
        );
    }
    s.push_str("}\n");
    s
}
