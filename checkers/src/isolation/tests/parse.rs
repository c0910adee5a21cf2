//! Long histories are parsed on two threads; the merged ids must mean the same values.

use crate::isolation::txns::{collect, Txns};
use history::sim::{list_append, ListAppendConfig};
use history::txn::MopValue;
use history::History;
use serde_json::{json, Value};

/// Every transaction's micro-ops with ids turned back into JSON.
fn as_json(t: &Txns) -> Vec<Value> {
    t.all
        .iter()
        .map(|txn| {
            Value::Array(
                txn.mops
                    .iter()
                    .map(|m| {
                        let v = match &m.value {
                            MopValue::One(v) => t.vals.value(*v).clone(),
                            MopValue::List(xs) => {
                                Value::Array(xs.iter().map(|x| t.vals.value(*x).clone()).collect())
                            }
                            MopValue::Nil | MopValue::Unknown => Value::Null,
                        };
                        json!([format!("{:?}", m.f), t.keys.value(m.key), v])
                    })
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn parallel_parse_matches_the_history() {
    let h = History::from_events(
        "sim",
        list_append(&ListAppendConfig {
            txns: 30_000,
            crash_rate: 0.01,
            seed: 3,
            ..Default::default()
        }),
    )
    .unwrap();
    let t = collect(&h).unwrap();
    assert_eq!(t.all.len(), 30_000);
    // Compare with each op's own value, parsed alone.
    let got = as_json(&t);
    for (i, (txn, g)) in t.all.iter().zip(&got).enumerate() {
        let op = &h.ops[txn.op];
        let alone = History {
            source: "one".into(),
            ops: vec![op.clone()],
            ..Default::default()
        };
        let one = collect(&alone).unwrap();
        assert_eq!(&as_json(&one)[0], g, "txn {i}");
    }
}
