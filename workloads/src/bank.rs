//! The bank workload as transactions of micro-ops, for stores that offer multi-key
//! transactions with `cas` preconditions (the built-in store, docs/node-api.md).
//!
//! - `init`: one transaction writing every account's starting balance.
//! - `read`: one transaction reading every account (a snapshot of all balances).
//! - `transfer`: a read of both balances, then one transaction whose `cas` preconditions pin
//!   both balances to what was read and replace them with the moved amounts. If another
//!   transfer changed either balance in between, the preconditions fail and the store applies
//!   nothing: the transfer is a definite `fail`. A store that honours the preconditions
//!   atomically can therefore neither lose money nor spend it twice.
//!
//! Everything here is pure (micro-op lists in, micro-op lists out) so it is tested without a
//! store; the client in `builtin.rs` sends the transactions.

use crate::generator::BANK_ACCOUNTS;
use serde_json::{json, Map, Value};

/// The store key of account `a`.
pub fn account_key(a: u64) -> String {
    format!("bank/{a}")
}

/// The transaction that sets every account to its balance in `init` (`{"0": 10, ...}`; a
/// missing account starts at 0).
pub fn init_txn(init: &Value) -> Value {
    let mops = (0..BANK_ACCOUNTS)
        .map(|a| json!(["w", account_key(a), init_balance(init, a)]))
        .collect();
    Value::Array(mops)
}

/// Account `a`'s starting balance in an `init` value (0 when missing).
pub fn init_balance(init: &Value, a: u64) -> Value {
    init.get(a.to_string()).cloned().unwrap_or(json!(0))
}

/// The transaction that reads the given accounts.
pub fn read_txn(accounts: &[u64]) -> Value {
    Value::Array(
        accounts
            .iter()
            .map(|&a| json!(["r", account_key(a), null]))
            .collect(),
    )
}

/// Every account.
pub fn all_accounts() -> Vec<u64> {
    (0..BANK_ACCOUNTS).collect()
}

/// The balances a read transaction's answer shows, in `accounts` order. A missing account
/// (null) reads as `None`; anything that is neither null nor an integer is an error.
pub fn balances_of(accounts: &[u64], answer: &Value) -> Result<Vec<Option<i64>>, String> {
    let Some(ops) = answer.as_array().filter(|o| o.len() == accounts.len()) else {
        return Err(format!(
            "expected {} read results, got {answer}",
            accounts.len()
        ));
    };
    ops.iter()
        .map(|m| match m.get(2) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("balance {v} in {m} is not an integer")),
        })
        .collect()
}

/// A read op's value: `{"0": balance, ...}` (null for an account that does not exist).
pub fn read_value(accounts: &[u64], balances: &[Option<i64>]) -> Value {
    let mut m = Map::new();
    for (a, b) in accounts.iter().zip(balances) {
        m.insert(a.to_string(), b.map(Value::from).unwrap_or(Value::Null));
    }
    Value::Object(m)
}

/// A transfer as the generator describes it (`{"from": 0, "to": 1, "amount": 3}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub from: u64,
    pub to: u64,
    pub amount: i64,
}

impl Transfer {
    pub fn parse(v: &Value) -> Result<Transfer, String> {
        let field = |k: &str| v.get(k).and_then(Value::as_i64);
        match (field("from"), field("to"), field("amount")) {
            (Some(from), Some(to), Some(amount))
                if from >= 0 && to >= 0 && from != to && amount > 0 =>
            {
                Ok(Transfer {
                    from: from as u64,
                    to: to as u64,
                    amount,
                })
            }
            _ => Err(format!(
                "a transfer needs distinct accounts `from`, `to` and a positive `amount`, got {v}"
            )),
        }
    }

    /// The conditional transaction that moves the money, given the balances read just before,
    /// or why the transfer cannot happen (the store is then left alone: a definite failure).
    pub fn plan(
        &self,
        from_balance: Option<i64>,
        to_balance: Option<i64>,
    ) -> Result<Value, String> {
        let (fb, tb) = (from_balance.unwrap_or(0), to_balance.unwrap_or(0));
        let (f2, t2) = self.moved(from_balance, to_balance)?;
        Ok(json!([
            ["cas", account_key(self.from), [fb, f2]],
            ["cas", account_key(self.to), [tb, t2]],
        ]))
    }

    /// The two balances after the transfer, given those before, or why it cannot happen.
    pub fn moved(
        &self,
        from_balance: Option<i64>,
        to_balance: Option<i64>,
    ) -> Result<(i64, i64), String> {
        let (Some(fb), Some(tb)) = (from_balance, to_balance) else {
            return Err("accounts are not initialised".into());
        };
        if fb < self.amount {
            return Err(format!(
                "insufficient funds: account {} has {fb}, the transfer needs {}",
                self.from, self.amount
            ));
        }
        Ok((fb - self.amount, tb + self.amount))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_pins_both_balances_and_conserves_the_total() {
        let t = Transfer::parse(&json!({"from": 1, "to": 3, "amount": 4})).unwrap();
        let txn = t.plan(Some(10), Some(2)).unwrap();
        assert_eq!(
            txn,
            json!([["cas", "bank/1", [10, 6]], ["cas", "bank/3", [2, 6]]])
        );
        assert!(t
            .plan(Some(3), Some(2))
            .unwrap_err()
            .contains("insufficient"));
        assert!(t.plan(None, Some(2)).is_err());
    }

    #[test]
    fn malformed_transfers_are_refused() {
        for v in [
            json!({"from": 1, "to": 1, "amount": 4}),
            json!({"from": 1, "to": 2, "amount": 0}),
            json!({"from": 1, "amount": 2}),
            json!(null),
        ] {
            assert!(Transfer::parse(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn reads_round_trip_through_the_store_answer() {
        let accts = all_accounts();
        let txn = read_txn(&accts);
        assert_eq!(txn.as_array().unwrap().len(), BANK_ACCOUNTS as usize);
        // The store fills in the read values.
        let mut answer = txn.clone();
        for (i, m) in answer.as_array_mut().unwrap().iter_mut().enumerate() {
            m[2] = if i == 0 { Value::Null } else { json!(i * 2) };
        }
        let b = balances_of(&accts, &answer).unwrap();
        assert_eq!(b[0], None);
        assert_eq!(b[2], Some(4));
        let v = read_value(&accts, &b);
        assert_eq!(v["0"], Value::Null);
        assert_eq!(v["4"], json!(8));
        assert!(balances_of(&accts, &json!([])).is_err());
        answer[1][2] = json!("x");
        assert!(balances_of(&accts, &answer).is_err());
    }

    #[test]
    fn init_writes_every_account() {
        let txn = init_txn(&json!({"0": 10, "1": 7}));
        let mops = txn.as_array().unwrap();
        assert_eq!(mops.len(), BANK_ACCOUNTS as usize);
        assert_eq!(mops[1], json!(["w", "bank/1", 7]));
        assert_eq!(mops[2], json!(["w", "bank/2", 0]));
    }
}
