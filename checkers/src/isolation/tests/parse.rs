//! The typed transactions must say what each op's JSON value says.

use crate::isolation::txns::MopValue;
use crate::isolation::txns::{collect, Txns};
use history::sim::{list_append, ListAppendConfig};
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
fn typed_transactions_match_the_history() {
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
    let got = as_json(&t);
    let mut reads = 0;
    for (i, (txn, g)) in t.all.iter().zip(&got).enumerate() {
        let op = &h.ops[txn.op];
        let expected: Vec<Value> = h
            .value(op)
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let (f, v) = match (m[0].as_str().unwrap(), &m[2]) {
                    ("append", v) => ("Append", v.clone()),
                    (_, _) if !op.is_ok() => ("Read", Value::Null),
                    (_, Value::Null) => ("Read", json!([])),
                    (_, v) => ("Read", v.clone()),
                };
                if f == "Read" {
                    reads += 1;
                }
                json!([f, m[1], v])
            })
            .collect();
        assert_eq!(g, &Value::Array(expected), "txn {i}");
    }
    assert!(reads > 10_000, "{reads}");
}
