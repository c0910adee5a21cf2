//! Helpers for running the binary in tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

/// Runs faultline with args; returns (exit code, stdout, stderr).
pub fn faultline(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(bin())
        .args(args)
        .output()
        .expect("spawn faultline");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `content` to `name` in `dir` and returns the path as a string.
pub fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write history");
    p.display().to_string()
}

/// The repository root (for examples/ and ../shared).
#[allow(dead_code)]
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a test's prerequisite (root, a Debian package, the shared corpus) is present.
/// When it is not, the test prints that it was skipped and why, and returns false; with
/// `FAULTLINE_REQUIRE_ALL=1` (set by `.ci/run`) a missing prerequisite fails the test instead.
#[allow(dead_code)]
pub fn prerequisite(present: bool, what: &str) -> bool {
    if present {
        return true;
    }
    if std::env::var("FAULTLINE_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("prerequisite missing and FAULTLINE_REQUIRE_ALL=1: {what}");
    }
    eprintln!("SKIPPED: {what}");
    false
}

/// Whether an `etcd` binary is on the PATH (the runner starts `etcd` by name); otherwise
/// reports the skip (a failure under FAULTLINE_REQUIRE_ALL=1), as [`prerequisite`] does.
#[allow(dead_code)]
pub fn etcd_present() -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("etcd").is_file()))
        .unwrap_or(false);
    prerequisite(found, "etcd (apt-get install etcd-server)")
}

/// True when running as root.
#[allow(dead_code)]
pub fn is_root() -> bool {
    // The effective uid from /proc/self/status.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// An external corpus that CI cannot download (third-party data is never committed): the path
/// in environment variable `var`. Absent, the test says loudly that it was skipped and returns
/// None, even under `FAULTLINE_REQUIRE_ALL=1` (CI has no copy); set to a path that is not a
/// directory, the test fails, since that is a misconfiguration rather than an absent corpus.
#[allow(dead_code)]
pub fn external_corpus(var: &str, what: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        None => {
            eprintln!(
                "SKIPPED (external corpus, not in CI): {what}; set {var} to its path to run this test"
            );
            None
        }
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(p.is_dir(), "{var}={} is not a directory", p.display());
            Some(p)
        }
    }
}
