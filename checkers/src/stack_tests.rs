//! Checks whose work grows with the history must not use stack that grows with it: a recursion
//! per transaction (or per nesting level) overflows the thread's stack on a big history, and a
//! stack overflow aborts the whole process with no verdict and no error. Each test here runs a
//! check on a long input in a thread with a small stack, far smaller than the input would need
//! if any stage recursed once per element; a regression aborts the test binary.

use crate::check::{check, CheckOptions};
use crate::result::Verdict;
use history::sim::{list_append, ListAppendConfig};
use history::History;

/// Stack for the checking thread: a few hundred frames, nothing per element of the input.
const SMALL_STACK: usize = 256 * 1024;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("spawning the checking thread")
        .join()
        .expect("the checking thread panicked")
}

fn expect(models: &[&str]) -> CheckOptions {
    CheckOptions {
        expect: models.iter().map(|m| m.to_string()).collect(),
        ..Default::default()
    }
}

/// A valid list-append history whose process and real-time edges chain all its transactions:
/// the dependency graph has one long path, which petgraph's recursive `tarjan_scc` walked with
/// a stack frame per transaction (600k transactions overflowed the main thread's 8 MiB).
#[test]
fn isolation_check_of_a_long_history_uses_bounded_stack() {
    let events = list_append(&ListAppendConfig {
        txns: 30_000,
        processes: 32,
        seed: 3,
        ..Default::default()
    });
    let h = History::from_events("long", events).unwrap();
    for model in ["strict-serializable", "serializable"] {
        let h = h.clone();
        let r = on_small_stack(move || check(&h, &expect(&[model])).unwrap());
        assert_eq!(r.valid, Verdict::Valid, "{model}: {:?}", r.anomaly_types);
    }
}
