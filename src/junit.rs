//! `--junit FILE`: the verdicts as a JUnit XML report, the format CI systems read: one test
//! suite per history file, one test case per expected model. A violated model is a failure
//! (its anomaly types and first witnesses in the text); a model the checkers could not decide
//! is an error, never a pass; a file that could not be read or checked is one errored case.

use checkers::{models, CheckResult};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::path::Path;
use std::time::Duration;

/// The report being gathered over the files of one `check` or `run`.
pub struct Junit {
    report: Report,
}

impl Junit {
    pub fn new() -> Junit {
        Junit {
            report: Report::new("faultline"),
        }
    }

    /// Adds a checked file: `summary` is the human summary printed for it.
    pub fn checked(&mut self, name: &str, r: &CheckResult, summary: &str, took: Duration) {
        let mut suite = TestSuite::new(name);
        suite.set_time(took);
        for model in &r.expected {
            let status = if r.not.contains(model) || r.also_not.contains(model) {
                let forbidden = models::forbidden(model);
                let mut types: Vec<&str> = r
                    .anomalies
                    .keys()
                    .map(String::as_str)
                    .filter(|t| forbidden.contains(t))
                    .collect();
                if types.is_empty() {
                    // Violated through a weaker model it implies.
                    types = r.anomalies.keys().map(String::as_str).collect();
                }
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type(types.join(", "));
                s.set_message(format!(
                    "the history is not {model}: {} found",
                    types.join(", ")
                ));
                s.set_description(summary);
                s
            } else if !r.unknown_reasons.is_empty() {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_type("unknown");
                s.set_message(format!("not decided: {}", r.unknown_reasons.join("; ")));
                s.set_description(summary);
                s
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(model.as_str(), status);
            case.set_classname(name);
            suite.add_test_case(case);
        }
        self.report.add_test_suite(suite);
    }

    /// Adds a file that could not be read or checked.
    pub fn failed(&mut self, name: &str, error: &str) {
        let mut suite = TestSuite::new(name);
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_type("error");
        s.set_message(error);
        let mut case = TestCase::new("load and check", s);
        case.set_classname(name);
        suite.add_test_case(case);
        self.report.add_test_suite(suite);
    }

    /// Writes the report to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context;
        let file = std::fs::File::create(path)
            .with_context(|| format!("creating the JUnit report {}", path.display()))?;
        self.report
            .serialize(std::io::BufWriter::new(file))
            .with_context(|| format!("writing the JUnit report {}", path.display()))
    }
}
