//! The real-time edges are a transitive reduction: reachability over them is exactly
//! `Op::precedes`, with a number of edges linear in the history.

use crate::isolation::graph::{realtime_edges, EdgeSet, REALTIME};
use crate::isolation::txns::collect;
use history::sim::{list_append, ListAppendConfig};
use history::History;
use petgraph::visit::{Bfs, EdgeFiltered};

#[test]
fn realtime_reduction_preserves_exactly_the_real_time_order() {
    for seed in 0..6 {
        let h = History::from_events(
            "sim",
            list_append(&ListAppendConfig {
                txns: 150,
                processes: 6,
                crash_rate: 0.1,
                seed,
                ..Default::default()
            }),
        )
        .unwrap();
        let txns = collect(&h).unwrap();
        let mut edges = EdgeSet::default();
        realtime_edges(&h, &txns, &mut edges);
        let n = txns.all.len();
        assert!(
            edges.len() <= n * 6,
            "seed {seed}: {} edges for {n} txns",
            edges.len()
        );
        let dg = edges.build(n);
        let rt = EdgeFiltered::from_fn(&dg.g, |e| *e.weight() & REALTIME != 0);
        for (i, a) in txns.all.iter().enumerate() {
            if !a.in_graph() {
                continue;
            }
            let mut reach = vec![false; n];
            let mut bfs = Bfs::new(&rt, i as u32);
            while let Some(v) = bfs.next(&rt) {
                reach[v as usize] = v as usize != i;
            }
            for (j, b) in txns.all.iter().enumerate() {
                if !b.in_graph() || i == j {
                    continue;
                }
                let precedes = h.ops[a.op].precedes(&h.ops[b.op]);
                assert_eq!(reach[j], precedes, "seed {seed}: T{i} -> T{j}");
            }
        }
    }
}
