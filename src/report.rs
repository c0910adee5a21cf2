//! Rendering results for people (the summary), for tools (`--json`) and to disk (`--out`).

use crate::exit;
use checkers::{CheckResult, Verdict};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// The short human summary: verdict, anomaly counts by type, the first witness of each type
/// (its op indexes and explanation), and the inconsistency window when the checkers measured
/// one.
pub fn summary(name: &str, r: &CheckResult, many: bool) -> String {
    let mut s = String::new();
    let verdict = match r.valid {
        Verdict::Valid => "VALID",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "UNKNOWN",
    };
    if many {
        let _ = writeln!(s, "{name}: {verdict} (expected {})", r.expected.join(", "));
    } else {
        let _ = writeln!(s, "{name}");
        let _ = writeln!(s, "  verdict:  {verdict}");
        let _ = writeln!(s, "  expected: {}", r.expected.join(", "));
    }
    let indent = "  ";
    for (kind, list) in &r.anomalies {
        let _ = match list.first() {
            Some(first) => writeln!(
                s,
                "{indent}{kind}: {} found (first: ops {:?})",
                list.len(),
                first.ops
            ),
            None => writeln!(s, "{indent}{kind}: {} found", list.len()),
        };
        if let Some(first) = list.first() {
            for line in first.explanation.lines() {
                let _ = writeln!(s, "{indent}    {line}");
            }
        }
    }
    if !r.not.is_empty() {
        // Anomalies the expected models allow are not listed above; say how to see them.
        let hint = if r.valid == Verdict::Invalid {
            String::new()
        } else {
            format!(
                " (allowed by the expected models; --expect {} lists the witnesses)",
                r.not.join(",")
            )
        };
        let _ = writeln!(s, "{indent}not: {}{hint}", r.not.join(", "));
    }
    if !r.also_not.is_empty() && !many {
        let _ = writeln!(s, "{indent}also not: {}", r.also_not.join(", "));
    }
    for reason in &r.unknown_reasons {
        let _ = writeln!(s, "{indent}unknown because: {reason}");
    }
    if let Some(line) = r.stats.get("inconsistency-window-ns").and_then(window_line) {
        let _ = writeln!(s, "{indent}{line}");
    }
    if !many {
        if let Some(line) = semantics_line(r) {
            let _ = writeln!(s, "{indent}semantics: {line}");
        }
    }
    s
}

/// What `fail` and nil reads were taken to mean, when that is not faultline's own convention
/// (`stats.semantics`, from the linearizability analysis): e.g. a Jepsen EDN history read with
/// Knossos's.
pub fn semantics_line(r: &CheckResult) -> Option<String> {
    let sem = r.stats.get("semantics")?;
    if sem.get("faultline_default") == Some(&Value::Bool(true)) {
        return None;
    }
    sem.get("summary")?.as_str().map(str::to_string)
}

/// `inconsistency window: p50 1.2 ms, p95 ..., p99 ..., max ... (N acknowledged appends)` from
/// the convergence checker's `{count, p50, p95, p99, max}` in ns; None when nothing was measured.
fn window_line(w: &Value) -> Option<String> {
    let count = w.get("count")?.as_u64().filter(|&n| n > 0)?;
    let ms = |k: &str| -> Option<String> {
        let ns = w.get(k)?.as_i64()?;
        Some(format!("{k} {:.1} ms", ns as f64 / 1e6))
    };
    let parts: Vec<String> = ["p50", "p95", "p99", "max"]
        .iter()
        .filter_map(|k| ms(k))
        .collect();
    Some(format!(
        "inconsistency window: {} ({count} acknowledged appends)",
        parts.join(", ")
    ))
}

/// The results object as one JSON line with a `file` field.
pub fn json_line(name: &str, r: &CheckResult) -> String {
    json_value(name, r).to_string()
}

/// The results object of [`json_line`], for callers that add fields to it.
pub fn json_value(name: &str, r: &CheckResult) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("file".into(), Value::from(name));
    }
    v
}

/// A file that could not be judged.
pub fn print_error(name: &str, message: &str, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"file": name, "valid": Value::Null, "error": message})
        );
    }
    eprintln!("error: {message}");
}

pub fn overall_line(code: u8, files: usize) -> String {
    let word = match code {
        exit::VALID => "all valid",
        exit::INVALID => "some INVALID",
        exit::UNKNOWN => "some UNKNOWN",
        _ => "some could not be checked",
    };
    format!("{files} histories checked: {word}")
}

/// A directory name for one input file among several.
pub fn file_slug(file: &Path) -> String {
    let s: String = file
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_start_matches(['.', '_']).to_string()
}

/// Writes results.json, one explanations text file per anomaly type, and the checkers'
/// artifacts (HTML, SVG, DOT).
pub fn write_out_dir(dir: &Path, r: &CheckResult) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(r).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("results.json"), json + "\n")?;
    for (kind, list) in &r.anomalies {
        let mut text = String::new();
        for (i, a) in list.iter().enumerate() {
            let _ = writeln!(text, "{kind} #{} (ops {:?})", i + 1, a.ops);
            for line in a.explanation.lines() {
                let _ = writeln!(text, "  {line}");
            }
            text.push('\n');
        }
        std::fs::write(dir.join(format!("{kind}.txt")), text)?;
    }
    for art in &r.artifacts {
        let path = dir.join(&art.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &art.content)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn window_line_shows_percentiles_in_ms_and_nothing_when_unmeasured() {
        let w = json!({"count": 12, "p50": 1_200_000, "p95": 8_000_000, "p99": 9_000_000, "max": 15_250_000});
        assert_eq!(
            window_line(&w).unwrap(),
            "inconsistency window: p50 1.2 ms, p95 8.0 ms, p99 9.0 ms, max 15.2 ms (12 acknowledged appends)"
        );
        assert_eq!(window_line(&json!({"count": 0, "p50": null})), None);
        assert_eq!(window_line(&json!("garbage")), None);
    }
}
