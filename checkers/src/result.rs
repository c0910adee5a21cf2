//! The results object of a check: verdict, anomalies, model boundary and stats.

use crate::anomaly::Anomaly;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Three-valued verdict. Unknown (the checker could not decide) is never reported as valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
    Unknown,
}

impl Verdict {
    /// The process exit code for this verdict: 0 valid, 1 invalid, 3 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 3,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Verdict::Valid => s.serialize_bool(true),
            Verdict::Invalid => s.serialize_bool(false),
            Verdict::Unknown => s.serialize_str("unknown"),
        }
    }
}

/// A file a checker wants written next to results.json with `--out` (HTML, SVG, DOT, text).
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// File name relative to the output directory (may contain one level of subdirectory).
    pub name: String,
    pub content: String,
}

/// The full results object (`--json`, results.json).
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub valid: Verdict,
    pub expected: Vec<String>,
    pub anomaly_types: Vec<String>,
    pub anomalies: BTreeMap<String, Vec<Anomaly>>,
    /// Weakest models the history violates.
    pub not: Vec<String>,
    /// Stronger models that fall with them.
    pub also_not: Vec<String>,
    /// Why the verdict is unknown, when it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_reasons: Vec<String>,
    pub stats: Map<String, Value>,
    #[serde(skip)]
    pub artifacts: Vec<Artifact>,
}
