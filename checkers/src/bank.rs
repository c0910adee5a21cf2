//! The bank workload: `transfer` ops move money between accounts, `read` ops return every
//! balance (`{"account": balance, ...}`) in one snapshot. Transfers conserve the total, so
//! every ok read must sum to the total the `init` op set up, and no balance may be negative
//! (a negative balance is a double spend: two transfers both saw enough money).

use crate::anomaly::Anomaly;
use crate::check::{Analysis, CheckError, CheckOptions, Findings};
use history::{History, Op};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// One ok read: its op index and balances (a missing account or null balance counts as 0).
#[derive(Debug, Clone, PartialEq)]
pub struct BankRead {
    pub read: u64,
    pub balances: Vec<(String, i64)>,
}

impl BankRead {
    pub fn total(&self) -> i64 {
        self.balances.iter().map(|b| b.1).sum()
    }
}

fn balances(h: &History, op: &Op) -> Result<Vec<(String, i64)>, CheckError> {
    let bad = |message: String| CheckError::Input {
        source_name: h.source.clone(),
        line: op.line(),
        message,
    };
    let Value::Object(m) = &op.value else {
        return Err(bad(format!(
            "a bank {} must be an object of balances, found {}",
            op.f, op.value
        )));
    };
    m.iter()
        .map(|(k, v)| match v {
            Value::Null => Ok((k.clone(), 0)),
            v => v
                .as_i64()
                .map(|b| (k.clone(), b))
                .ok_or_else(|| bad(format!("balance of account {k} is {v}, not an integer"))),
        })
        .collect()
}

/// The expected total (from the ok `init` op) and the ok reads.
pub fn bank_view(h: &History) -> Result<(Option<i64>, Vec<BankRead>), CheckError> {
    let mut total = None;
    if let Some(init) = h.ops_with_f("init").find(|o| o.is_ok()) {
        total = Some(balances(h, init)?.iter().map(|b| b.1).sum());
    }
    let mut reads = Vec::new();
    for r in h.ops_with_f("read").filter(|o| o.is_ok()) {
        reads.push(BankRead {
            read: r.index,
            balances: balances(h, r)?,
        });
    }
    Ok((total, reads))
}

fn show(b: &[(String, i64)]) -> String {
    let parts: Vec<String> = b.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Reads whose balances do not sum to the expected total.
pub fn wrong_total_cases(total: i64, init: Option<u64>, reads: &[BankRead]) -> Vec<Anomaly> {
    reads
        .iter()
        .filter(|r| r.total() != total)
        .map(|r| {
            let mut ops = vec![r.read];
            ops.extend(init);
            Anomaly::new(
                "wrong-total",
                ops,
                format!(
                    "op {} read balances {} summing to {}, but transfers conserve the total {}{}.",
                    r.read,
                    show(&r.balances),
                    r.total(),
                    total,
                    match init {
                        Some(i) => format!(" set up by op {i}"),
                        None => String::new(),
                    }
                ),
            )
            .with_data("total", json!(r.total()))
            .with_data("expected", json!(total))
        })
        .collect()
}

/// Reads that show a negative balance.
pub fn negative_balance_cases(reads: &[BankRead]) -> Vec<Anomaly> {
    reads
        .iter()
        .filter_map(|r| {
            let neg: Map<String, Value> = r
                .balances
                .iter()
                .filter(|b| b.1 < 0)
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            if neg.is_empty() {
                return None;
            }
            Some(
                Anomaly::new(
                    "negative-balance",
                    vec![r.read],
                    format!(
                        "op {} read balances {}: account {} is negative, so transfers spent money it did not have.",
                        r.read,
                        show(&r.balances),
                        neg.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
                .with_data("negative", Value::Object(neg)),
            )
        })
        .collect()
}

pub struct BankAnalysis;

impl Analysis for BankAnalysis {
    fn name(&self) -> &'static str {
        "bank"
    }
    fn detects(&self) -> &'static [&'static str] {
        &["wrong-total", "negative-balance"]
    }
    fn applies(&self, h: &History) -> bool {
        h.ops.iter().any(|o| o.f == "transfer" || o.f == "init")
    }
    fn run(
        &self,
        h: &History,
        _opts: &CheckOptions,
        _forbidden: &BTreeSet<&'static str>,
        out: &mut Findings,
    ) -> Result<(), CheckError> {
        let (total, reads) = bank_view(h)?;
        let init = h.ops_with_f("init").find(|o| o.is_ok()).map(|o| o.index);
        let total = match (total, reads.first()) {
            (Some(t), _) => Some(t),
            (None, Some(first)) => {
                out.stats.insert(
                    "bank_total_from".into(),
                    json!(format!(
                        "no ok init op: the total is taken from the first ok read, op {}",
                        first.read
                    )),
                );
                Some(first.total())
            }
            (None, None) => None,
        };
        if reads.is_empty() {
            out.unknown_reasons
                .push("the bank history has no ok read: nothing to check".into());
        }
        if let Some(t) = total {
            out.extend(wrong_total_cases(t, init, &reads));
        }
        out.extend(negative_balance_cases(&reads));
        out.stats
            .insert("bank".into(), json!({"reads": reads.len(), "total": total}));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::result::Verdict;

    fn run(lines: &[&str]) -> crate::CheckResult {
        let h = History::from_events("t", history::jsonl::parse("t", &lines.join("\n")).unwrap())
            .unwrap();
        check(
            &h,
            &CheckOptions {
                expect: vec!["bank".into()],
                ..Default::default()
            },
        )
        .unwrap()
    }

    const INIT: [&str; 4] = [
        r#"{"process":0,"type":"invoke","f":"init","value":{"0":10,"1":10}}"#,
        r#"{"process":0,"type":"ok","f":"init","value":{"0":10,"1":10}}"#,
        r#"{"process":1,"type":"invoke","f":"transfer","value":{"from":0,"to":1,"amount":4}}"#,
        r#"{"process":2,"type":"invoke","f":"read","value":null}"#,
    ];

    fn with_read(v: &str) -> crate::CheckResult {
        let done = format!(r#"{{"process":2,"type":"ok","f":"read","value":{v}}}"#);
        let mut lines = INIT.to_vec();
        lines.push(&done);
        run(&lines)
    }

    #[test]
    fn conserved_total_is_valid_wrong_total_is_not() {
        assert_eq!(with_read(r#"{"0":6,"1":14}"#).valid, Verdict::Valid);
        let r = with_read(r#"{"0":6,"1":10}"#);
        assert_eq!(r.valid, Verdict::Invalid);
        let a = &r.anomalies["wrong-total"][0];
        assert_eq!(a.ops, vec![3, 0]);
        assert!(a.explanation.contains("summing to 16"), "{}", a.explanation);
    }

    #[test]
    fn negative_balance_is_a_double_spend() {
        let r = with_read(r#"{"0":-2,"1":22}"#);
        assert_eq!(r.valid, Verdict::Invalid);
        assert!(r.anomalies.contains_key("negative-balance"));
        assert!(!r.anomalies.contains_key("wrong-total"));
    }

    #[test]
    fn malformed_read_is_an_input_error() {
        let h = History::from_events(
            "t",
            history::jsonl::parse(
                "t",
                &[
                    INIT[0],
                    INIT[1],
                    INIT[3],
                    r#"{"process":2,"type":"ok","f":"read","value":[1]}"#,
                ]
                .join("\n"),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(matches!(
            bank_view(&h),
            Err(CheckError::Input { line: 4, .. })
        ));
    }
}
