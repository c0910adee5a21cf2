//! `check` as a whole: a history in any format (detected), then every checker that applies to
//! it by default and the main model families, each with a small search budget so the fuzzer
//! keeps moving. A checker may return an error for a history it cannot judge; it must never
//! panic, abort or recurse without bound.
use std::time::Duration;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(h) = history::parse_str("fuzz", text, None) else {
            return;
        };
        for expect in [
            vec![],
            vec!["linearizable".to_string()],
            vec!["strict-serializable".to_string()],
            vec!["causal".to_string(), "session".to_string()],
        ] {
            let opts = checkers::CheckOptions {
                expect,
                time_limit: Some(Duration::from_millis(200)),
                ..Default::default()
            };
            let _ = checkers::check(&h, &opts);
        }
    });
}
