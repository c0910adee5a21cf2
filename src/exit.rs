//! Exit codes (a contract: CI pipelines gate on them).

use checkers::Verdict;

pub const VALID: u8 = 0;
pub const INVALID: u8 = 1;
pub const USAGE: u8 = 2;
pub const UNKNOWN: u8 = 3;
pub const ERROR: u8 = 4;

/// Severity for combining several files: error > invalid > unknown > valid.
fn severity(code: u8) -> u8 {
    match code {
        ERROR => 4,
        USAGE => 3,
        INVALID => 2,
        UNKNOWN => 1,
        _ => 0,
    }
}

/// The worse of two exit codes.
pub fn worst(a: u8, b: u8) -> u8 {
    if severity(b) > severity(a) {
        b
    } else {
        a
    }
}

pub fn of_verdict(v: Verdict) -> u8 {
    v.exit_code()
}
