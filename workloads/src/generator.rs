//! Seeded, deterministic operation generators, one per worker.
//!
//! Every worker owns a [`Generator`] seeded from the run's seed and the worker's number, so the
//! same seed gives every worker the same sequence of operations. Appended and written values are
//! unique across the whole run (`n * workers + worker + 1`), which the list-append and
//! rw-register checkers need to tell writes apart. Keys rotate: each worker moves to a fresh
//! group of keys every [`ROTATE`] operations, so per-key histories stay short enough to check.

use crate::op::Invocation;
use history::sim::SplitMix64;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Operations a worker performs before moving to the next group of keys.
pub const ROTATE: u64 = 64;
/// Register keys active at a time.
const REGISTER_KEYS: u64 = 5;
/// Transaction keys active at a time.
const TXN_KEYS: u64 = 8;
/// Bank accounts and the starting balance of each.
pub const BANK_ACCOUNTS: u64 = 5;
pub const BANK_START: i64 = 10;
/// Keys of the single-key workloads.
pub const SET_KEY: &str = "set";
pub const COUNTER_KEY: &str = "counter";

/// What the workers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// read / write / cas on a few independent registers.
    Register,
    /// Transactions of 1-4 append/read micro-ops on lists.
    ListAppend,
    /// Transactions of 1-4 write/read micro-ops on registers.
    RwRegister,
    /// Adds of unique elements to one set, reads of the whole set.
    Set,
    /// Increments of one counter, reads of its value.
    Counter,
    /// Transfers between accounts, reads of every balance.
    Bank,
}

impl Workload {
    pub const ALL: &'static [Workload] = &[
        Workload::Register,
        Workload::ListAppend,
        Workload::RwRegister,
        Workload::Set,
        Workload::Counter,
        Workload::Bank,
    ];

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.iter().copied().find(|w| w.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
            Workload::Set => "set",
            Workload::Counter => "counter",
            Workload::Bank => "bank",
        }
    }

    /// The operation that sets up the initial state before the workers start, if any.
    pub fn setup(self) -> Option<Invocation> {
        match self {
            Workload::Bank => {
                let mut m = serde_json::Map::new();
                for a in 0..BANK_ACCOUNTS {
                    m.insert(a.to_string(), Value::from(BANK_START));
                }
                Some(Invocation::new("init", None, Value::Object(m)))
            }
            _ => None,
        }
    }

    /// The final read of `key` (one of the keys a generator reported) for this workload.
    pub fn final_read(self, key: &Value) -> Invocation {
        match self {
            Workload::Register => Invocation::new("read", Some(key.clone()), Value::Null),
            Workload::ListAppend | Workload::RwRegister => {
                Invocation::new("txn", None, json!([["r", key, null]]))
            }
            Workload::Set | Workload::Counter | Workload::Bank => {
                Invocation::new("read", None, Value::Null)
            }
        }
    }
}

/// One worker's operation source.
#[derive(Debug, Clone)]
pub struct Generator {
    workload: Workload,
    rng: SplitMix64,
    worker: u64,
    workers: u64,
    /// Operations generated so far.
    n: u64,
    /// Unique values handed out so far.
    values: u64,
    keys: BTreeSet<u64>,
    /// Register workload: the value this worker last wrote (or cas'ed in) per key.
    last_written: BTreeMap<u64, u64>,
}

impl Generator {
    /// The generator of worker `worker` (0-based) of `workers`, for the run's `seed`.
    pub fn new(workload: Workload, seed: u64, worker: u64, workers: u64) -> Generator {
        let mix = SplitMix64::new(seed ^ worker.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64();
        Generator {
            workload,
            rng: SplitMix64::new(mix),
            worker,
            workers: workers.max(1),
            n: 0,
            values: 0,
            keys: BTreeSet::new(),
            last_written: BTreeMap::new(),
        }
    }

    fn unique(&mut self) -> u64 {
        self.values += 1;
        (self.values - 1) * self.workers + self.worker + 1
    }

    fn key(&mut self, active: u64) -> u64 {
        let k = (self.n / ROTATE) * active + self.rng.below(active);
        self.keys.insert(k);
        k
    }

    /// The next operation.
    pub fn next_op(&mut self) -> Invocation {
        let op = match self.workload {
            Workload::Register => {
                // Written values are unique across the run, so the session and causal
                // checkers can tell which write a read saw. A cas expects the value this
                // worker last wrote to the key (it succeeds unless someone overwrote it).
                let key = self.key(REGISTER_KEYS);
                let k = Value::from(key);
                match (self.rng.below(10), self.last_written.get(&key).copied()) {
                    (0..=4, _) => Invocation::new("read", Some(k), Value::Null),
                    (8..=9, Some(expected)) => {
                        let v = self.unique();
                        self.last_written.insert(key, v);
                        Invocation::new("cas", Some(k), json!([expected, v]))
                    }
                    _ => {
                        let v = self.unique();
                        self.last_written.insert(key, v);
                        Invocation::new("write", Some(k), Value::from(v))
                    }
                }
            }
            Workload::ListAppend | Workload::RwRegister => {
                let write = if self.workload == Workload::ListAppend {
                    "append"
                } else {
                    "w"
                };
                let len = 1 + self.rng.below(4);
                let mut mops = Vec::new();
                for _ in 0..len {
                    let k = self.key(TXN_KEYS);
                    if self.rng.chance(0.5) {
                        let v = self.unique();
                        mops.push(json!([write, k, v]));
                    } else {
                        mops.push(json!(["r", k, null]));
                    }
                }
                Invocation::new("txn", None, Value::Array(mops))
            }
            Workload::Set => {
                if self.rng.below(10) < 8 {
                    let v = self.unique();
                    Invocation::new("add", None, Value::from(v))
                } else {
                    Invocation::new("read", None, Value::Null)
                }
            }
            Workload::Counter => {
                if self.rng.below(10) < 7 {
                    Invocation::new("increment", None, Value::from(1 + self.rng.below(5)))
                } else {
                    Invocation::new("read", None, Value::Null)
                }
            }
            Workload::Bank => {
                if self.rng.below(10) < 7 {
                    let from = self.rng.below(BANK_ACCOUNTS);
                    let to = (from + 1 + self.rng.below(BANK_ACCOUNTS - 1)) % BANK_ACCOUNTS;
                    let amount = 1 + self.rng.below(5);
                    Invocation::new(
                        "transfer",
                        None,
                        json!({"from": from, "to": to, "amount": amount}),
                    )
                } else {
                    Invocation::new("read", None, Value::Null)
                }
            }
        };
        self.n += 1;
        op
    }

    /// Every key this generator's operations touched (for the final reads), sorted.
    pub fn keys(&self) -> Vec<Value> {
        match self.workload {
            Workload::Register | Workload::ListAppend | Workload::RwRegister => {
                self.keys.iter().map(|&k| Value::from(k)).collect()
            }
            Workload::Set => vec![Value::from(SET_KEY)],
            Workload::Counter => vec![Value::from(COUNTER_KEY)],
            Workload::Bank => vec![Value::from("bank")],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(w: Workload, seed: u64, worker: u64, n: usize) -> Vec<Invocation> {
        let mut g = Generator::new(w, seed, worker, 4);
        (0..n).map(|_| g.next_op()).collect()
    }

    #[test]
    fn same_seed_same_sequence_other_seed_other_sequence() {
        for &w in Workload::ALL {
            assert_eq!(ops(w, 7, 1, 200), ops(w, 7, 1, 200), "{}", w.name());
            assert_ne!(ops(w, 7, 1, 200), ops(w, 8, 1, 200), "{}", w.name());
            assert_ne!(ops(w, 7, 1, 200), ops(w, 7, 2, 200), "{}", w.name());
        }
    }

    #[test]
    fn written_values_are_unique_across_workers() {
        let mut seen = BTreeSet::new();
        for worker in 0..4 {
            for op in ops(Workload::ListAppend, 3, worker, 500) {
                for m in op.value.as_array().unwrap() {
                    if m[0] == "append" {
                        assert!(seen.insert(m[2].as_u64().unwrap()), "duplicate {m}");
                    }
                }
            }
        }
        assert!(seen.len() > 500);
    }

    #[test]
    fn register_values_are_unique_and_some_ops_are_cas() {
        let mut seen = BTreeSet::new();
        let mut cas = 0;
        for worker in 0..4 {
            for op in ops(Workload::Register, 5, worker, 500) {
                let v = match op.f.as_str() {
                    "write" => op.value.clone(),
                    "cas" => {
                        cas += 1;
                        op.value[1].clone()
                    }
                    _ => continue,
                };
                assert!(seen.insert(v.as_u64().unwrap()), "duplicate {v}");
            }
        }
        assert!(seen.len() > 500, "{}", seen.len());
        assert!(cas > 100, "{cas}");
    }

    #[test]
    fn txns_have_one_to_four_mops_and_keys_rotate() {
        let mut g = Generator::new(Workload::ListAppend, 1, 0, 1);
        for _ in 0..(ROTATE * 3) {
            let n = g.next_op().value.as_array().unwrap().len();
            assert!((1..=4).contains(&n));
        }
        let keys = g.keys();
        assert!(keys.len() > TXN_KEYS as usize, "{keys:?}");
        assert!(keys.len() <= 3 * TXN_KEYS as usize);
    }

    #[test]
    fn bank_transfers_move_between_distinct_accounts() {
        for op in ops(Workload::Bank, 5, 0, 300) {
            if op.f == "transfer" {
                assert_ne!(op.value["from"], op.value["to"]);
            }
        }
    }
}
