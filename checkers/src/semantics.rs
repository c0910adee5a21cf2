//! What a `fail` and a read of nil mean: each source tool has its own convention, and a history
//! keeps the one of the tool it comes from unless `--fail-means` / `--nil-read` say otherwise
//! (docs/history-format.md, "Semantics of fail and nil").
//!
//! | source                         | a failed op                                  | an `ok` read of nil |
//! |--------------------------------|----------------------------------------------|---------------------|
//! | faultline JSONL                | did not happen, except a `cas` failed with `error: "precondition-failed"`: its compare did not match (`recorded`) | the register holds nil (`value`) |
//! | Jepsen / Knossos EDN           | did not happen, observed nothing (`nothing`)  | constrains nothing (`any`) |
//! | Jepsen text log (Porcupine's etcd corpus) | a failed `cas` observed a mismatch (`mismatch`) | the key does not exist: the initial nil (`value`) |
//! | Porcupine kv                   | (no cas) did not happen                       | (kv reads strings)   |
//!
//! The `multi-register` model is Knossos's alone, so its nil reads constrain nothing whatever
//! the format.

use crate::check::CheckOptions;
use history::{Format, History, Op, Outcome};
use serde_json::{json, Value};

/// What a failed operation means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMeans {
    /// It did not take effect and observed nothing (Jepsen, Knossos).
    Nothing,
    /// It did not take effect; a `cas` that failed with `error: "precondition-failed"` also
    /// observed that the register did not hold the expected value (faultline's own histories).
    Recorded,
    /// It did not take effect; every failed `cas` observed that the register did not hold the
    /// expected value (Porcupine's etcd model).
    Mismatch,
}

/// What an `ok` read of nil (null) means in the register models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NilRead {
    /// Nothing: "we don't know what the read was" (Knossos's register models).
    Any,
    /// The register held nil: its initial state when nothing was written (faultline,
    /// Porcupine's etcd model).
    Value,
}

impl FailMeans {
    pub fn parse(s: &str) -> Option<FailMeans> {
        match s {
            "nothing" => Some(FailMeans::Nothing),
            "recorded" => Some(FailMeans::Recorded),
            "mismatch" => Some(FailMeans::Mismatch),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            FailMeans::Nothing => "nothing",
            FailMeans::Recorded => "recorded",
            FailMeans::Mismatch => "mismatch",
        }
    }
    fn words(self) -> &'static str {
        match self {
            FailMeans::Nothing => "a failed op did not happen and observed nothing",
            FailMeans::Recorded => {
                "a failed op did not happen; a cas failed with error precondition-failed observed a mismatch"
            }
            FailMeans::Mismatch => "a failed cas observed that the register did not hold its expected value",
        }
    }
}

impl NilRead {
    pub fn parse(s: &str) -> Option<NilRead> {
        match s {
            "any" => Some(NilRead::Any),
            "value" => Some(NilRead::Value),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            NilRead::Any => "any",
            NilRead::Value => "value",
        }
    }
    fn words(self) -> &'static str {
        match self {
            NilRead::Any => "a read of nil constrains nothing",
            NilRead::Value => "a read of nil means the register held nil",
        }
    }
}

/// The conventions a check applies, and where each came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Semantics {
    pub fail_means: FailMeans,
    pub nil_read: NilRead,
    /// Whose convention the defaults follow: "faultline", "Knossos", "Porcupine".
    pub tool: &'static str,
    /// Whether both were given by option.
    pub fail_from_option: bool,
    pub nil_from_option: bool,
}

/// faultline's own conventions (its JSONL histories).
pub const FAULTLINE: (FailMeans, NilRead) = (FailMeans::Recorded, NilRead::Value);

impl Semantics {
    /// The source's conventions for `h` (from its format) under the options. `multi_register`:
    /// the model is Knossos's multi-register, whose nil reads constrain nothing by default.
    pub fn resolve(h: &History, opts: &CheckOptions, multi_register: bool) -> Semantics {
        let (fail, nil, tool) = match h.format {
            Some(Format::Edn) => (FailMeans::Nothing, NilRead::Any, "Knossos"),
            Some(Format::JepsenLog) => (FailMeans::Mismatch, NilRead::Value, "Porcupine"),
            Some(Format::PorcupineKv) => (FailMeans::Nothing, NilRead::Value, "Porcupine"),
            Some(Format::Jsonl) | None => (FAULTLINE.0, FAULTLINE.1, "faultline"),
        };
        let nil = if multi_register { NilRead::Any } else { nil };
        Semantics {
            fail_means: opts.fail_means.unwrap_or(fail),
            nil_read: opts.nil_read.unwrap_or(nil),
            tool,
            fail_from_option: opts.fail_means.is_some(),
            nil_from_option: opts.nil_read.is_some(),
        }
    }

    /// Whether this failed `cas` observed that the register did not hold its expected value.
    pub fn cas_failure_observes(&self, op: &Op) -> bool {
        debug_assert_eq!(op.outcome, Outcome::Fail);
        match self.fail_means {
            FailMeans::Nothing => false,
            FailMeans::Recorded => op.failed_precondition(),
            FailMeans::Mismatch => true,
        }
    }

    /// Whether an `ok` read that returned `value` constrains the state.
    pub fn read_constrains(&self, value: &Value) -> bool {
        !(value.is_null() && self.nil_read == NilRead::Any)
    }

    /// Whether these are faultline's own conventions (those of its JSONL histories for this
    /// model); if not, the summary says which apply.
    pub fn is_faultline_default(&self, multi_register: bool) -> bool {
        let nil = if multi_register {
            NilRead::Any
        } else {
            FAULTLINE.1
        };
        self.fail_means == FAULTLINE.0 && self.nil_read == nil
    }

    /// The record kept in the results (`stats.semantics`).
    pub fn to_json(&self, multi_register: bool) -> Value {
        let from = |opt: bool| {
            if opt {
                "option".to_string()
            } else {
                format!("{} (the history's format)", self.tool)
            }
        };
        json!({
            "fail_means": self.fail_means.as_str(),
            "nil_read": self.nil_read.as_str(),
            "fail_means_from": from(self.fail_from_option),
            "nil_read_from": from(self.nil_from_option),
            "faultline_default": self.is_faultline_default(multi_register),
            "summary": self.line(),
        })
    }

    /// One line for people: `--fail-means nothing --nil-read any (Knossos's, from the
    /// history's format): a failed op did not happen ...; a read of nil constrains nothing`.
    pub fn line(&self) -> String {
        let whose = match (self.fail_from_option, self.nil_from_option) {
            (true, true) => "as the options say".to_string(),
            (false, false) => format!("{}'s, from the history's format", self.tool),
            _ => format!("options and {}'s defaults", self.tool),
        };
        format!(
            "--fail-means {} --nil-read {} ({whose}): {}; {}",
            self.fail_means.as_str(),
            self.nil_read.as_str(),
            self.fail_means.words(),
            self.nil_read.words()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(format: Option<Format>) -> History {
        History {
            format,
            ..Default::default()
        }
    }

    #[test]
    fn each_format_keeps_its_tools_conventions_and_options_win() {
        let o = CheckOptions::default();
        let s = Semantics::resolve(&hist(Some(Format::Edn)), &o, false);
        assert_eq!(
            (s.fail_means, s.nil_read),
            (FailMeans::Nothing, NilRead::Any)
        );
        assert!(!s.is_faultline_default(false));
        let s = Semantics::resolve(&hist(Some(Format::JepsenLog)), &o, false);
        assert_eq!(
            (s.fail_means, s.nil_read),
            (FailMeans::Mismatch, NilRead::Value)
        );
        let s = Semantics::resolve(&hist(Some(Format::Jsonl)), &o, false);
        assert!(s.is_faultline_default(false));
        let s = Semantics::resolve(&hist(None), &o, true);
        assert_eq!(s.nil_read, NilRead::Any, "multi-register is Knossos's");
        assert!(s.is_faultline_default(true));
        let o = CheckOptions {
            fail_means: Some(FailMeans::Mismatch),
            nil_read: Some(NilRead::Value),
            ..Default::default()
        };
        let s = Semantics::resolve(&hist(Some(Format::Edn)), &o, false);
        assert_eq!(
            (s.fail_means, s.nil_read),
            (FailMeans::Mismatch, NilRead::Value)
        );
        assert!(s.line().contains("as the options say"), "{}", s.line());
        for f in ["nothing", "recorded", "mismatch"] {
            assert_eq!(FailMeans::parse(f).unwrap().as_str(), f);
        }
        for n in ["any", "value"] {
            assert_eq!(NilRead::parse(n).unwrap().as_str(), n);
        }
        assert!(FailMeans::parse("maybe").is_none() && NilRead::parse("null").is_none());
    }
}
