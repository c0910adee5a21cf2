//! One smallest history per anomaly type, and the nearest history that does not show it.

use super::notation::{assert_valid, hist, run, types};
use crate::check::{check, CheckOptions};
use crate::result::Verdict;
use std::time::Duration;

const SER: &str = "serializable";
const SS: &str = "strict-serializable";

#[test]
fn g0_write_cycle() {
    let bad = "0 ok: a x 1; a y 1
               1 ok: a x 2; a y 2
               2 ok: r x [1 2]; r y [2 1]";
    assert_eq!(types(bad, SER), ["G0"]);
    assert_valid(&bad.replace("[2 1]", "[1 2]"), SER);
    let r = run(bad, SER);
    assert_eq!(r.not, ["read-uncommitted"]);
    assert!(r.also_not.contains(&"strict-serializable".to_string()));
}

#[test]
fn g1c_circular_information_flow() {
    let bad = "0 ok: a x 1; r y [1]
               1 ok: a y 1; r x [1]";
    assert_eq!(types(bad, SER), ["G1c"]);
    assert_eq!(run(bad, SER).not, ["read-committed"]);
    assert_valid(
        "0 ok: a x 1; r y [1]
         1 ok: a y 1; r x []",
        SER,
    );
}

#[test]
fn g_single_read_skew_with_explanation() {
    let bad = "0 ok: a x 1; a y 1
               1 ok: r x [1]; r y []";
    let r = run(bad, SER);
    assert_eq!(r.anomaly_types, ["G-single-item"]);
    let a = &r.anomalies["G-single-item"][0];
    let lines: Vec<&str> = a.explanation.lines().collect();
    assert_eq!(
        lines[0],
        r#"T1 = op 0 (process 0): [["append","x",1],["append","y",1]]"#
    );
    assert!(
        lines.contains(&"T1 < T2 because T2 observed T1's append of 1 to x"),
        "{}",
        a.explanation
    );
    assert!(
        lines
            .contains(&"T2 < T1 because T2 did not observe T1's append of 1 to y (T2 read y = [])"),
        "{}",
        a.explanation
    );
    assert!(lines.last().unwrap().starts_with("So T1 < T2 < T1"));
    assert_eq!(a.ops.len(), 2);
    assert_eq!(r.not, ["consistent-view", "repeatable-read"]);
    assert_valid(
        "0 ok: a x 1; a y 1
         1 ok: r x [1]; r y [1]",
        SER,
    );
}

#[test]
fn g2_item_write_skew() {
    let bad = "0 ok: r x []; r y []; a x 1
               1 ok: r x []; r y []; a y 1";
    assert_eq!(types(bad, SER), ["G2-item"]);
    // Snapshot isolation allows write skew.
    assert_valid(bad, "snapshot-isolation");
    assert_valid(
        "0 ok: r x []; r y []; a x 1
         1 ok: r x [1]; r y []; a y 1",
        SER,
    );
}

#[test]
fn g_nonadjacent() {
    let bad = "0 ok: r x []; r w [1]
               1 ok: a x 1; a y 1
               2 ok: r y [1]; r z []
               3 ok: a z 1; a w 1";
    assert_eq!(types(bad, SER), ["G-nonadjacent-item"]);
    assert_valid(&bad.replace("r z []", "r z [1]"), SER);
}

#[test]
fn process_variant_when_session_order_closes_the_cycle() {
    let bad = "0 ok: a x 1
               0 ok: a x 2
               1 ok: r x [2 1]";
    assert_eq!(types(bad, "strong-session-serializable"), ["G0-process"]);
    assert_valid(bad, SER);
    assert_valid(
        &bad.replace("[2 1]", "[1 2]"),
        "strong-session-serializable",
    );
    let r = run(bad, SS);
    let text = &r.anomalies["G0-process"][0].explanation;
    assert!(text.contains("because process 0 executed"), "{text}");
}

#[test]
fn g1c_and_g_single_process() {
    // A session read the append its own next transaction made.
    let bad = "0 ok: r x [1]
               0 ok: a x 1";
    assert_eq!(types(bad, "strong-session-serializable"), ["G1c-process"]);
    assert_valid(&bad.replace("[1]", "[]"), "strong-session-serializable");
    // A session did not read its own earlier append (read-your-writes, transactionally).
    let bad = "0 ok: a x 1
               0 ok: r x []";
    assert_eq!(
        types(bad, "strong-session-snapshot-isolation"),
        ["G-single-item-process"]
    );
    assert_valid(bad, "snapshot-isolation");
    assert_valid(&bad.replace("[]", "[1]"), "strong-session-serializable");
}

#[test]
fn g2_item_process() {
    // T1 then T2 on process 0; T2 missed T3's append, T3 missed T1's.
    let bad = "0 ok: a k 1
               1 ok: r k []; a j 1
               0 ok: r j []";
    assert_eq!(
        types(bad, "strong-session-serializable"),
        ["G2-item-process"]
    );
    assert_valid(bad, SER);
    assert_valid(
        &bad.replace("r k []", "r k [1]"),
        "strong-session-serializable",
    );
}

#[test]
fn realtime_variants() {
    // A stale read: T2 began after T1's append completed, yet did not see it.
    let bad = "0 ok: a x 1
               --
               1 ok: r x []";
    assert_eq!(types(bad, SS), ["G-single-item-realtime"]);
    let text = &run(bad, SS).anomalies["G-single-item-realtime"][0].explanation;
    assert!(text.contains("completed 1.0 ms before"), "{text}");
    assert_valid(&bad.replace("--\n", ""), SS);
    assert_valid(bad, "serializable");
    // Reading the future: T1 saw an append of a transaction that began after it completed.
    let bad = "0 ok: a x 1; r y [1]
               --
               1 ok: a y 1";
    assert_eq!(types(bad, SS), ["G1c-realtime"]);
    assert_valid(&bad.replace("--\n", ""), SS);
}

#[test]
fn g1a_aborted_read_and_dirty_update() {
    assert_eq!(
        types(
            "0 fail: a x 1
             1 ok: r x [1]",
            SER
        ),
        ["G1a"]
    );
    assert_valid(
        "0 fail: a x 1
         1 ok: r x []",
        SER,
    );
    assert_eq!(
        types(
            "0 fail: a x 1
             1 ok: a x 2
             2 ok: r x [1 2]",
            SER
        ),
        ["G1a", "dirty-update"]
    );
    assert_valid(
        "0 fail: a x 1
         1 ok: a x 2
         2 ok: r x [2]",
        SER,
    );
}

#[test]
fn g1b_intermediate_read() {
    assert_eq!(
        types(
            "0 ok: a x 1; a x 2
             1 ok: r x [1]",
            SER
        ),
        // As in Elle: the reader also did not observe the final append, a G-single.
        ["G-single-item", "G1b"]
    );
    assert_valid(
        "0 ok: a x 1; a x 2
         1 ok: r x [1 2]",
        SER,
    );
}

#[test]
fn internal_and_future_read() {
    assert_eq!(types("0 ok: a x 1; r x []", SER), ["internal"]);
    assert_valid("0 ok: a x 1; r x [1]", SER);
    assert_eq!(types("0 ok: r x [1]; a x 1", SER), ["future-read"]);
    assert_valid("0 ok: r x []; a x 1", SER);
}

#[test]
fn lost_update() {
    let bad = "0 ok: r x []; a x 1
               1 ok: r x []; a x 2
               2 ok: r x [1 2]";
    assert_eq!(types(bad, SER), ["G-single-item", "lost-update"]);
    // Snapshot isolation forbids lost updates too (first committer wins).
    assert!(types(bad, "snapshot-isolation").contains(&"lost-update".to_string()));
    assert_valid(&bad.replace("1 ok: r x []", "1 ok: r x [1]"), SER);
}

#[test]
fn incompatible_order_duplicates_garbage() {
    assert_eq!(
        types(
            "0 ok: a x 1
             1 ok: a x 2
             2 ok: r x [1]
             3 ok: r x [2]",
            SER
        ),
        ["incompatible-order"]
    );
    assert_valid(
        "0 ok: a x 1
         1 ok: a x 2
         2 ok: r x [1]
         3 ok: r x [1 2]",
        SER,
    );
    assert_eq!(
        types(
            "0 ok: a x 1
             1 ok: r x [1 1]",
            SER
        ),
        ["duplicate-elements"]
    );
    assert_eq!(types("0 ok: r x [9]", SER), ["garbage-read"]);
    assert_valid(
        "0 ok: a x 9
         1 ok: r x [9]",
        SER,
    );
}

#[test]
fn registers() {
    // Read skew on registers, through the initial-nil rule.
    let bad = "0 ok: w x 1; w y 1
               1 ok: r x 1; r y nil";
    let r = run(bad, SER);
    assert_eq!(r.anomaly_types, ["G-single-item"]);
    assert_eq!(
        r.stats["isolation"]["version_order"],
        serde_json::json!(["initial-nil"])
    );
    assert!(r.anomalies["G-single-item"][0]
        .explanation
        .contains("T2 did not observe T1's write of 1 to y (T2 read y = nil)"));
    assert_valid(
        "0 ok: w x 1; w y 1
         1 ok: r x 1; r y 1",
        SER,
    );
    // Contradictory version orders.
    assert_eq!(
        types(
            "0 ok: r x 1; w x 2
             1 ok: r x 2; w x 1",
            SER
        ),
        ["G1c", "cyclic-versions"]
    );
    assert_valid(
        "0 ok: r x nil; w x 1
         1 ok: r x 1; w x 2",
        SER,
    );
    // Successive writes in one transaction order versions too.
    assert_eq!(
        types(
            "0 ok: r x 3; w x 1; w x 2
             1 ok: r x 2; w x 3",
            SER
        ),
        ["G1c", "cyclic-versions"]
    );
    assert_valid(
        "0 ok: w x 1; w x 2
         1 ok: w x 3; w x 4",
        SER,
    );
    assert_eq!(types("0 ok: w x 1; r x 2", SER), ["internal"]);
    assert_eq!(
        types(
            "0 fail: w x 1
             1 ok: r x 1",
            SER
        ),
        ["G1a"]
    );
    assert_eq!(
        types(
            "0 ok: w x 1; w x 2
             1 ok: r x 1",
            SER
        ),
        // As for list-append: the reader also missed the later write 2.
        ["G-single-item", "G1b"]
    );
    assert_eq!(types("0 ok: r x 5", SER), ["garbage-read"]);
    assert_eq!(
        types(
            "0 ok: r x nil; w x 1
             1 ok: r x nil; w x 2",
            SER
        ),
        ["G2-item", "lost-update"]
    );
}

#[test]
fn nothing_committed_is_unknown() {
    let r = run("0 fail: a x 1", SER);
    assert_eq!(r.valid, Verdict::Unknown);
    assert_eq!(r.anomaly_types, ["empty-transaction-graph"]);
}

#[test]
fn out_of_time_is_unknown_with_what_was_found() {
    let h = hist(
        "0 ok: a x 1; r y [1]
         1 ok: a y 1; r x [1]",
    );
    let r = check(
        &h,
        &CheckOptions {
            expect: vec![SER.into()],
            time_limit: Some(Duration::ZERO),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r
        .anomaly_types
        .contains(&"cycle-search-timeout".to_string()));
    // The cheap search still reports the cycle, so the verdict is invalid.
    assert!(
        r.anomaly_types.contains(&"G1c".to_string()),
        "{:?}",
        r.anomaly_types
    );
    assert_eq!(r.valid, Verdict::Invalid);
}

#[test]
fn info_transactions_may_have_committed() {
    // An indeterminate append that was observed is a real dependency.
    assert_eq!(
        types(
            "0 info: a x 1; a y 1
             1 ok: r x [1]; r y []",
            SER
        ),
        ["G-single-item"]
    );
    // Never observed: nothing to say.
    assert_valid(
        "0 info: a x 1
         1 ok: r x []",
        SS,
    );
}

#[test]
fn mixed_data_models_are_bad_input() {
    let h = hist(
        "0 ok: a x 1
         1 ok: w y 1",
    );
    let e = check(&h, &CheckOptions::default()).unwrap_err();
    assert!(e.to_string().contains("mixes list-append"), "{e}");
}

#[test]
fn artifacts_per_cycle() {
    let r = run(
        "0 ok: a x 1; a y 1
         1 ok: r x [1]; r y []",
        SER,
    );
    let names: Vec<&str> = r.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "isolation/G-single-item-1.svg",
            "isolation/G-single-item-1.dot"
        ]
    );
    let svg = &r.artifacts[0].content;
    assert!(
        svg.starts_with("<svg") && svg.contains(">rw y<") && svg.contains(">wr x<"),
        "{svg}"
    );
    assert!(
        r.artifacts[1].content.contains("T2 -> T1 [label=\"rw y\""),
        "{}",
        r.artifacts[1].content
    );
}

#[test]
fn final_phase_replica_reads_are_not_judged_for_isolation() {
    // A stale read after an acknowledged append is a realtime anomaly...
    let stale = "0 ok: a x 1
                 --
                 1 ok: r x []";
    assert!(!types(stale, SS).is_empty());
    // ...but not when it is a final-phase read of one replica's own state.
    let mut h = hist(stale);
    h.ops[1].set_phase(Some("final"));
    let r = check(
        &h,
        &CheckOptions {
            expect: vec![SS.into()],
            ..Default::default()
        },
    )
    .unwrap();
    let detects = <crate::isolation::Isolation as crate::check::Analysis>::detects(
        &crate::isolation::Isolation,
    );
    assert!(
        r.anomaly_types
            .iter()
            .all(|t| !detects.contains(&t.as_str())),
        "{:?}",
        r.anomaly_types
    );
}

#[test]
fn session_guarantees_implied_by_strict_serializable_are_decided_by_isolation_cycles() {
    // A session misses its own append: read-your-writes, and transactionally a
    // process-closed cycle.
    let bad = "0 ok: a x 1
               0 ok: r x []";
    let r = run(bad, SS);
    assert_eq!(r.valid, Verdict::Invalid);
    assert_eq!(r.stats["analyses"], serde_json::json!(["isolation"]));
    assert!(r.anomaly_types.iter().any(|t| t.ends_with("-process")));
    // Named explicitly, the session guarantee is also checked by its own analysis.
    let r = check(
        &hist(bad),
        &CheckOptions {
            expect: vec![SS.into(), "read-your-writes".into()],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.anomaly_types.contains(&"read-your-writes".to_string()));
}
