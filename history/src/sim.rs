//! Simulated stores that produce histories, for property tests and benchmarks.
//!
//! [`list_append`] drives a single-copy, atomic list-append store: every transaction takes
//! effect at once at its completion, so the history is strict serializable (and therefore
//! satisfies every weaker model). Tests inject violations into such histories; benchmarks time
//! checkers on them. Deterministic for a seed.

use crate::event::{Event, EventType, Process};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A small deterministic PRNG (SplitMix64), so this crate needs no `rand`.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

/// Shape of a generated list-append history.
#[derive(Debug, Clone)]
pub struct ListAppendConfig {
    pub txns: usize,
    pub processes: u64,
    /// Micro-ops per transaction: 1..=max_mops.
    pub max_mops: usize,
    /// Keys in use at once.
    pub active_keys: u64,
    /// Appends per key before it is retired and a fresh key takes its place.
    pub appends_per_key: u64,
    /// Probability that a transaction crashes (`info`); it then takes effect or not at random.
    pub crash_rate: f64,
    pub seed: u64,
}

impl Default for ListAppendConfig {
    fn default() -> Self {
        ListAppendConfig {
            txns: 1000,
            processes: 16,
            max_mops: 4,
            active_keys: 8,
            appends_per_key: 32,
            crash_rate: 0.0,
            seed: 0,
        }
    }
}

/// Generates a strict-serializable list-append history (events in real-time order, with
/// `time` in nanoseconds and `index` from line order).
pub fn list_append(cfg: &ListAppendConfig) -> Vec<Event> {
    let mut rng = SplitMix64::new(cfg.seed);
    let mut lists: HashMap<u64, Vec<i64>> = HashMap::new();
    // active key slots -> (key id, appends so far)
    let mut slots: Vec<(u64, u64)> = (0..cfg.active_keys.max(1)).map(|k| (k, 0)).collect();
    let mut next_key = slots.len() as u64;
    let mut next_elem: HashMap<u64, i64> = HashMap::new();
    // per worker: current process id and pending txn
    let workers = cfg.processes.max(1);
    let mut proc_of: Vec<u64> = (0..workers).collect();
    let mut next_proc = workers;
    let mut pending: Vec<Option<Vec<(bool, u64, i64)>>> = vec![None; workers as usize];
    let mut events = Vec::with_capacity(cfg.txns * 2);
    let mut invoked = 0usize;
    let mut open = 0usize;
    let mut time: i64 = 0;
    while invoked < cfg.txns || open > 0 {
        let w = rng.below(workers) as usize;
        time += 1 + rng.below(1000) as i64;
        match pending[w].take() {
            None if invoked < cfg.txns => {
                let n = 1 + rng.below(cfg.max_mops.max(1) as u64) as usize;
                let mut mops = Vec::with_capacity(n);
                for _ in 0..n {
                    let slot = rng.below(slots.len() as u64) as usize;
                    let (key, used) = slots[slot];
                    if rng.chance(0.5) && used < cfg.appends_per_key {
                        let e = next_elem.entry(key).or_insert(0);
                        *e += 1;
                        mops.push((true, key, *e));
                        slots[slot].1 += 1;
                        if slots[slot].1 >= cfg.appends_per_key {
                            slots[slot] = (next_key, 0);
                            next_key += 1;
                        }
                    } else {
                        mops.push((false, key, 0));
                    }
                }
                let value = Value::Array(
                    mops.iter()
                        .map(|&(app, k, e)| {
                            if app {
                                json!(["append", k, e])
                            } else {
                                json!(["r", k, null])
                            }
                        })
                        .collect(),
                );
                events.push(ev(proc_of[w], EventType::Invoke, value, time));
                pending[w] = Some(mops);
                invoked += 1;
                open += 1;
            }
            None => {}
            Some(mops) => {
                open -= 1;
                let crash = cfg.crash_rate > 0.0 && rng.chance(cfg.crash_rate);
                let apply = !crash || rng.chance(0.5);
                let mut out = Vec::with_capacity(mops.len());
                for &(app, k, e) in &mops {
                    let list = lists.entry(k).or_default();
                    if app {
                        if apply {
                            list.push(e);
                        }
                        out.push(json!(["append", k, e]));
                    } else if crash {
                        out.push(json!(["r", k, null]));
                    } else {
                        out.push(json!(["r", k, list.clone()]));
                    }
                }
                if crash {
                    events.push(ev(proc_of[w], EventType::Info, Value::Array(out), time));
                    proc_of[w] = next_proc;
                    next_proc += 1;
                } else {
                    events.push(ev(proc_of[w], EventType::Ok, Value::Array(out), time));
                }
            }
        }
    }
    for (i, e) in events.iter_mut().enumerate() {
        e.index = Some(i as u64);
        e.line = i + 1;
    }
    events
}

fn ev(p: u64, typ: EventType, value: Value, time: i64) -> Event {
    let mut e = Event::new(Process::Client(p), typ, "txn", value);
    e.time = Some(time);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::History;

    #[test]
    fn generates_a_valid_paired_history() {
        let evs = list_append(&ListAppendConfig {
            txns: 500,
            crash_rate: 0.05,
            ..Default::default()
        });
        let h = History::from_events("sim", evs).unwrap();
        assert_eq!(h.ops.len(), 500);
        assert!(h.ops.iter().any(|o| o.outcome == crate::Outcome::Info));
        let again = list_append(&ListAppendConfig {
            txns: 500,
            crash_rate: 0.05,
            ..Default::default()
        });
        assert_eq!(History::from_events("sim", again).unwrap(), h);
    }
}
