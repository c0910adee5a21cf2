//! The Wing-Gong/Lowe linearizability search over one partition, generic over the model.
//!
//! Calls and returns form a doubly linked list in real-time order. The search walks it: at a
//! call it tries to linearize that op now (the model must accept it and the resulting
//! (linearized set, state) pair must be new to the cache); at a return whose op is not yet
//! linearized it backtracks. Everything is flat: the linked list is index arrays, the
//! linearized set is a pair of bitsets whose hash is kept incrementally (Zobrist), and the
//! cache stores the set's short canonical encoding (completed ops: a prefix length plus a
//! window; crashed ops apart) in one arena, so the inner loop does not allocate (except to
//! store a new state) and the memory per explored state does not grow with the history.
//!
//! Indeterminate ops (crashed, `info`) return at the end of the history, and need not be
//! linearized at all: once every completed op is, the search succeeds. Two pending crashed
//! ops with the same input are interchangeable, so only the first of such a group is tried
//! (symmetry reduction).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A sequential specification: a state and a step function.
pub trait Spec {
    type State: Clone + Eq + Hash + Send;
    type Input: Send + Sync;
    /// The state after applying `input` in state `s`, or `None` if the model forbids it.
    fn step(&self, s: &Self::State, input: &Self::Input) -> Option<Self::State>;
    /// The state for people ("3", "held", "[1 2]").
    fn show_state(&self, s: &Self::State) -> String;
    /// The operation for people ("read 3", "cas 1 -> 2").
    fn show_input(&self, input: &Self::Input) -> String;
    /// The state `s` reached from `init` through `path`, for people. Models whose state
    /// merges values no observation can tell apart override this to name the real value.
    /// Heap bytes a state holds beyond `size_of::<State>()` (for the memory budget).
    fn state_heap_bytes(&self, _s: &Self::State) -> usize {
        0
    }
    /// Heap bytes the model itself has grown to during the search (interned values, memos).
    fn heap_bytes(&self) -> usize {
        0
    }
    fn show_state_after(
        &self,
        _init: &Self::State,
        _path: &[&Self::Input],
        s: &Self::State,
    ) -> String {
        self.show_state(s)
    }
}

/// One operation of a partition, ready for the search.
#[derive(Debug, Clone)]
pub struct Call<I> {
    pub input: I,
    /// The history op id it came from.
    pub op: usize,
    /// Real-time position of the invocation and of the return (`usize::MAX` if open).
    pub call_pos: usize,
    pub ret_pos: usize,
    /// Symmetry class of an open op (`u32::MAX` for none): open ops of one class are identical.
    pub class: u32,
}

/// When to give up.
pub struct Budget<'a> {
    pub deadline: Option<Instant>,
    pub cancel: &'a AtomicBool,
    /// Search steps allowed (`u64::MAX`: no limit).
    pub max_steps: u64,
    /// Bytes the cache of explored states may take.
    pub max_cache_bytes: usize,
}

/// Which limit stopped a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Time,
    Steps,
    Memory,
}

impl Budget<'_> {
    /// Default cache budget: 2 GiB of explored (linearized set, state) pairs.
    pub const CACHE_BYTES: usize = 2 << 30;

    fn exhausted(&self, steps: u64) -> Option<Limit> {
        if steps >= self.max_steps {
            Some(Limit::Steps)
        } else if self.cancel.load(Ordering::Relaxed)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
        {
            Some(Limit::Time)
        } else {
            None
        }
    }
}

/// Why an op tried at the deepest point did not lead to a linearization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tried {
    /// The model forbids it in that state.
    Rejected,
    /// It is allowed, but every continuation from the state it leads to failed.
    DeadEnd(String),
}

/// The deepest point the search reached before failing: the witness.
#[derive(Debug, Clone)]
pub struct Stuck {
    /// Calls linearized, in order (indexes into the calls).
    pub prefix: Vec<usize>,
    /// The state after the prefix, for people.
    pub state: String,
    /// The call whose return was reached before it could be linearized.
    pub op: usize,
    /// Calls that were candidates at that point (invoked, not linearized), and what happened.
    pub tried: Vec<(usize, Tried)>,
}

/// The outcome of a search.
#[derive(Debug)]
pub enum SearchOutcome {
    Linearizable { explored: u64 },
    Violation { stuck: Box<Stuck>, explored: u64 },
    Exhausted { explored: u64, limit: Limit },
}

const NIL: u32 = u32::MAX;
const HEAD: usize = 0;

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Identity(u64);
impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A small fast hasher for states (FxHash-style).
#[derive(Default)]
pub struct Fx(u64);
const FX_K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(FX_K);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

fn hash_state<S: Hash>(s: &S) -> u64 {
    let mut h = Fx::default();
    s.hash(&mut h);
    h.finish()
}

/// The set of (linearized set, state) pairs already explored. Linearized sets are stored in
/// their short canonical encoding ([`LinSet::encode`]), all in one arena.
struct Cache<S> {
    heads: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    /// Heap bytes held by the stored states themselves.
    state_heap: usize,
    next: Vec<u32>,
    states: Vec<S>,
    spans: Vec<(usize, u32)>,
    keys: Vec<u64>,
}

impl<S: Eq + Clone> Cache<S> {
    /// Bytes held, from the capacities actually allocated (a hash map entry is its key and
    /// value plus one control byte).
    fn bytes(&self) -> usize {
        self.heads.capacity() * (8 + 4 + 1)
            + self.next.capacity() * 4
            + self.states.capacity() * std::mem::size_of::<S>()
            + self.spans.capacity() * std::mem::size_of::<(usize, u32)>()
            + self.keys.capacity() * 8
            + self.state_heap
    }

    fn new() -> Self {
        Cache {
            heads: HashMap::default(),
            state_heap: 0,
            next: Vec::new(),
            states: Vec::new(),
            spans: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// Inserts the pair; false if it was already there.
    fn insert(&mut self, h: u64, key: &[u64], s: &S, heap: impl Fn(&S) -> usize) -> bool {
        let head = self.heads.get(&h).copied().unwrap_or(NIL);
        let mut e = head;
        while e != NIL {
            let i = e as usize;
            let (at, len) = self.spans[i];
            if self.states[i] == *s && self.keys[at..at + len as usize] == *key {
                return false;
            }
            e = self.next[i];
        }
        let i = self.states.len() as u32;
        self.state_heap += heap(s);
        self.next.push(head);
        self.states.push(s.clone());
        self.spans.push((self.keys.len(), key.len() as u32));
        self.keys.extend_from_slice(key);
        self.heads.insert(h, i);
        true
    }
}

/// The linearized set. Completed ops (in invocation order) are linearized as a prefix (all
/// below `first_gap`) plus a window above it no wider than the concurrency; crashed ops are
/// kept apart. So the canonical encoding is short even when the history is long.
struct LinSet {
    /// Per call: its index among completed ops or among crashed ops.
    slot: Vec<u32>,
    crashed_call: Vec<bool>,
    done: Vec<u64>,
    crashed: Vec<u64>,
    /// Lowest completed index not linearized.
    first_gap: usize,
    /// One past the highest completed index linearized, at least `first_gap`.
    top: usize,
}

impl LinSet {
    fn new<I>(calls: &[Call<I>]) -> Self {
        let (mut done, mut crashed) = (0u32, 0u32);
        let mut slot = Vec::with_capacity(calls.len());
        let mut crashed_call = Vec::with_capacity(calls.len());
        for c in calls {
            let open = c.ret_pos == usize::MAX;
            crashed_call.push(open);
            if open {
                slot.push(crashed);
                crashed += 1;
            } else {
                slot.push(done);
                done += 1;
            }
        }
        LinSet {
            slot,
            crashed_call,
            done: vec![0; (done as usize).div_ceil(64)],
            crashed: vec![0; (crashed as usize).div_ceil(64)],
            first_gap: 0,
            top: 0,
        }
    }

    fn bit(words: &[u64], k: usize) -> bool {
        words[k / 64] >> (k % 64) & 1 == 1
    }

    fn contains(&self, c: usize) -> bool {
        let k = self.slot[c] as usize;
        if self.crashed_call[c] {
            Self::bit(&self.crashed, k)
        } else {
            Self::bit(&self.done, k)
        }
    }

    fn insert(&mut self, c: usize) {
        let k = self.slot[c] as usize;
        if self.crashed_call[c] {
            self.crashed[k / 64] |= 1 << (k % 64);
            return;
        }
        self.done[k / 64] |= 1 << (k % 64);
        let n = self.done.len() * 64;
        while self.first_gap < n && Self::bit(&self.done, self.first_gap) {
            self.first_gap += 1;
        }
        self.top = self.top.max(k + 1).max(self.first_gap);
    }

    fn remove(&mut self, c: usize) {
        let k = self.slot[c] as usize;
        if self.crashed_call[c] {
            self.crashed[k / 64] &= !(1 << (k % 64));
            return;
        }
        self.done[k / 64] &= !(1 << (k % 64));
        self.first_gap = self.first_gap.min(k);
        while self.top > self.first_gap && !Self::bit(&self.done, self.top - 1) {
            self.top -= 1;
        }
    }

    /// The canonical encoding: equal sets give equal encodings and vice versa.
    fn encode(&self, out: &mut Vec<u64>) {
        out.clear();
        out.push(self.first_gap as u64);
        out.push(self.top as u64);
        let (lo, hi) = (self.first_gap / 64, self.top.div_ceil(64));
        if hi > lo {
            out.extend_from_slice(&self.done[lo..hi]);
        }
        out.extend_from_slice(&self.crashed);
    }
}

/// Deterministic 64-bit keys for the incremental hash of the linearized set.
fn zobrist(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
        .collect()
}

/// Searches for a linearization of `calls` from `init`.
pub fn search<M: Spec>(
    spec: &M,
    init: M::State,
    calls: &[Call<M::Input>],
    budget: &Budget,
) -> SearchOutcome {
    let n = calls.len();
    if n == 0 {
        return SearchOutcome::Linearizable { explored: 0 };
    }
    // Entries in real-time order; node k+1 is entry k, node 0 the head.
    // kind: call index for calls, call index | RET for returns.
    const RET: u32 = 1 << 31;
    let mut entries: Vec<(usize, u8, u32)> = Vec::with_capacity(2 * n);
    for (i, c) in calls.iter().enumerate() {
        entries.push((c.call_pos, 0, i as u32));
        entries.push((c.ret_pos, 1, i as u32 | RET));
    }
    // Open ops all return at MAX: order them after every real return, calls by index.
    entries.sort_unstable();
    let m = entries.len() + 1;
    let mut kind = vec![0u32; m];
    let mut next = vec![NIL; m];
    let mut prev = vec![NIL; m];
    let mut call_node = vec![0u32; n];
    let mut ret_node = vec![0u32; n];
    for (k, &(_, _, kd)) in entries.iter().enumerate() {
        let node = k + 1;
        kind[node] = kd;
        if kd & RET != 0 {
            ret_node[(kd & !RET) as usize] = node as u32;
        } else {
            call_node[kd as usize] = node as u32;
        }
    }
    for node in 0..m {
        next[node] = if node + 1 < m { node as u32 + 1 } else { NIL };
        prev[node] = if node == 0 { NIL } else { node as u32 - 1 };
    }
    // Previous open op of the same symmetry class, in call order.
    let mut same_class_before = vec![NIL; n];
    {
        let mut last: HashMap<u32, u32> = HashMap::new();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| calls[i].call_pos);
        for i in order {
            let c = calls[i].class;
            if c != u32::MAX {
                if let Some(&p) = last.get(&c) {
                    same_class_before[i] = p;
                }
                last.insert(c, i as u32);
            }
        }
    }

    let keys = zobrist(n);
    let mut bits = LinSet::new(calls);
    let mut key: Vec<u64> = Vec::new();
    let mut zob: u64 = 0;
    let mut cache: Cache<M::State> = Cache::new();
    let mut state = init.clone();
    // Stack of (call index, state before it).
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    // The deepest failure so far. Its prefix is kept incrementally: entries below `low` (the
    // lowest the stack has been since the last record) have not changed.
    let mut best: Option<Deepest<M::State>> = None;
    let mut best_prefix: Vec<usize> = Vec::new();
    let mut low = 0usize;
    let mut explored: u64 = 0;
    let mut entry = next[HEAD];

    macro_rules! lift {
        ($c:expr) => {{
            for node in [call_node[$c] as usize, ret_node[$c] as usize] {
                let (p, q) = (prev[node], next[node]);
                next[p as usize] = q;
                if q != NIL {
                    prev[q as usize] = p;
                }
            }
        }};
    }
    macro_rules! unlift {
        ($c:expr) => {{
            for node in [ret_node[$c] as usize, call_node[$c] as usize] {
                let (p, q) = (prev[node], next[node]);
                next[p as usize] = node as u32;
                if q != NIL {
                    prev[q as usize] = node as u32;
                }
            }
        }};
    }

    while next[HEAD] != NIL {
        explored += 1;
        if explored & 0x3ff == 0 {
            let held = cache.bytes()
                + spec.heap_bytes()
                + stack.capacity() * std::mem::size_of::<(usize, M::State)>();
            let limit = if held > budget.max_cache_bytes {
                Some(Limit::Memory)
            } else {
                budget.exhausted(explored)
            };
            if let Some(limit) = limit {
                return SearchOutcome::Exhausted { explored, limit };
            }
        }
        let node = entry as usize;
        let kd = kind[node];
        if kd & RET == 0 {
            let c = kd as usize;
            // Symmetry: skip if an identical open op invoked earlier is still pending.
            let mut twin = same_class_before[c];
            while twin != NIL && bits.contains(twin as usize) {
                twin = same_class_before[twin as usize];
            }
            if twin == NIL {
                if let Some(ns) = spec.step(&state, &calls[c].input) {
                    bits.insert(c);
                    zob ^= keys[c];
                    bits.encode(&mut key);
                    if cache.insert(zob ^ hash_state(&ns), &key, &ns, |s| {
                        spec.state_heap_bytes(s)
                    }) {
                        let old = std::mem::replace(&mut state, ns);
                        stack.push((c, old));
                        lift!(c);
                        entry = next[HEAD];
                        continue;
                    }
                    bits.remove(c);
                    zob ^= keys[c];
                }
            }
            entry = next[node];
        } else {
            let stuck_op = (kd & !RET) as usize;
            // Open ops return last: reaching one means every op that completed is linearized,
            // and the open ones left may simply not have taken effect.
            if calls[stuck_op].ret_pos == usize::MAX {
                return SearchOutcome::Linearizable { explored };
            }
            // The op returning here was not linearized in time: backtrack.
            let deeper = match &best {
                None => true,
                Some(b) => stack.len() > b.depth,
            };
            if deeper {
                best_prefix.truncate(low);
                best_prefix.extend(stack[low..].iter().map(|(c, _)| *c));
                low = stack.len();
                best = Some(deepest(
                    spec, &state, &stack, calls, stuck_op, &next, &kind, node,
                ));
            }
            let Some((c, old)) = stack.pop() else {
                break;
            };
            low = low.min(stack.len());
            state = old;
            bits.remove(c);
            zob ^= keys[c];
            unlift!(c);
            entry = next[call_node[c] as usize];
        }
    }
    if next[HEAD] == NIL {
        return SearchOutcome::Linearizable { explored };
    }
    match best {
        Some(b) => SearchOutcome::Violation {
            stuck: Box::new(render(spec, &init, calls, b, best_prefix)),
            explored,
        },
        None => SearchOutcome::Linearizable { explored },
    }
}

/// The deepest failure, as states (rendered once the search is over).
struct Deepest<S> {
    depth: usize,
    state: S,
    op: usize,
    /// Candidates and the state each leads to (`None`: the model forbids it).
    tried: Vec<(usize, Option<S>)>,
}

/// Records the failure at a return that came before its op could be linearized.
#[allow(clippy::too_many_arguments)]
fn deepest<M: Spec>(
    spec: &M,
    state: &M::State,
    stack: &[(usize, M::State)],
    calls: &[Call<M::Input>],
    stuck_op: usize,
    next: &[u32],
    kind: &[u32],
    upto: usize,
) -> Deepest<M::State> {
    let mut tried = Vec::new();
    let mut e = next[HEAD];
    while e != NIL && e as usize != upto {
        let kd = kind[e as usize];
        if kd & (1 << 31) == 0 {
            let c = kd as usize;
            tried.push((c, spec.step(state, &calls[c].input)));
        }
        e = next[e as usize];
    }
    Deepest {
        depth: stack.len(),
        state: state.clone(),
        op: stuck_op,
        tried,
    }
}

/// Renders the deepest failure for people.
fn render<M: Spec>(
    spec: &M,
    init: &M::State,
    calls: &[Call<M::Input>],
    best: Deepest<M::State>,
    prefix: Vec<usize>,
) -> Stuck {
    let mut path: Vec<&M::Input> = prefix.iter().map(|&c| &calls[c].input).collect();
    let state = spec.show_state_after(init, &path, &best.state);
    let tried = best
        .tried
        .into_iter()
        .map(|(c, s)| {
            let t = match s {
                None => Tried::Rejected,
                Some(s) => {
                    path.push(&calls[c].input);
                    let shown = spec.show_state_after(init, &path, &s);
                    path.pop();
                    Tried::DeadEnd(shown)
                }
            };
            (c, t)
        })
        .collect();
    Stuck {
        prefix,
        state,
        op: best.op,
        tried,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register of small integers: read v / write v.
    struct Reg;
    #[derive(Debug, Clone, Copy)]
    enum R {
        Read(u8),
        Write(u8),
    }
    impl Spec for Reg {
        type State = u8;
        type Input = R;
        fn step(&self, s: &u8, i: &R) -> Option<u8> {
            match *i {
                R::Read(v) => (v == *s).then_some(*s),
                R::Write(v) => Some(v),
            }
        }
        fn show_state(&self, s: &u8) -> String {
            s.to_string()
        }
        fn show_input(&self, i: &R) -> String {
            format!("{i:?}")
        }
    }

    fn call(input: R, op: usize, call_pos: usize, ret_pos: usize) -> Call<R> {
        Call {
            input,
            op,
            call_pos,
            ret_pos,
            class: u32::MAX,
        }
    }

    fn run(calls: &[Call<R>]) -> SearchOutcome {
        let cancel = AtomicBool::new(false);
        search(
            &Reg,
            0,
            calls,
            &Budget {
                deadline: None,
                cancel: &cancel,
                max_steps: u64::MAX,
                max_cache_bytes: Budget::CACHE_BYTES,
            },
        )
    }

    #[test]
    fn concurrent_write_and_read_linearize() {
        // write 1 [0,3], read 1 [1,2]: the write can take effect first.
        let calls = [call(R::Write(1), 0, 0, 3), call(R::Read(1), 1, 1, 2)];
        assert!(matches!(run(&calls), SearchOutcome::Linearizable { .. }));
    }

    #[test]
    fn stale_read_after_write_is_caught_with_witness() {
        // write 1 [0,1], then read 0 [2,3]: impossible.
        let calls = [call(R::Write(1), 0, 0, 1), call(R::Read(0), 1, 2, 3)];
        match run(&calls) {
            SearchOutcome::Violation { stuck, .. } => {
                assert_eq!(stuck.op, 1);
                assert_eq!(stuck.prefix, vec![0]);
                assert_eq!(stuck.state, "1");
                assert_eq!(stuck.tried, vec![(1, Tried::Rejected)]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn open_ops_stay_open_until_the_end() {
        // A crashed write 2 invoked at 0 never returns; a read 2 much later is fine.
        let calls = [
            call(R::Write(2), 0, 0, usize::MAX),
            call(R::Read(0), 1, 1, 2),
            call(R::Read(2), 2, 10, 11),
        ];
        assert!(matches!(run(&calls), SearchOutcome::Linearizable { .. }));
        // But it cannot un-happen: read 2 then read 0 is a violation.
        let calls = [
            call(R::Write(2), 0, 0, usize::MAX),
            call(R::Read(2), 1, 1, 2),
            call(R::Read(0), 2, 10, 11),
        ];
        assert!(matches!(run(&calls), SearchOutcome::Violation { .. }));
    }

    #[test]
    fn symmetric_open_ops_keep_verdicts() {
        // Two identical crashed writes of 3, each needed once after a write of 4.
        let mut calls = vec![
            call(R::Write(3), 0, 0, usize::MAX),
            call(R::Write(3), 1, 1, usize::MAX),
            call(R::Write(4), 2, 2, 3),
            call(R::Read(3), 3, 4, 5),
            call(R::Write(4), 4, 6, 7),
            call(R::Read(3), 5, 8, 9),
        ];
        calls[0].class = 7;
        calls[1].class = 7;
        // Needs both crashed writes, after each write 4.
        assert!(matches!(run(&calls), SearchOutcome::Linearizable { .. }));
        calls.push(call(R::Write(4), 6, 10, 11));
        calls.push(call(R::Read(3), 7, 12, 13));
        assert!(matches!(run(&calls), SearchOutcome::Violation { .. }));
    }

    #[test]
    fn linearized_set_encoding_is_canonical() {
        // 150 completed and 40 crashed calls; random inserts/removes, checked against a plain
        // set: equal sets must encode equally, different sets differently.
        let calls: Vec<Call<R>> = (0..190)
            .map(|i| {
                let ret = if i % 5 == 0 && i >= 40 {
                    usize::MAX
                } else {
                    i + 1
                };
                call(R::Read(0), i, i, ret)
            })
            .collect();
        let mut set = LinSet::new(&calls);
        let mut truth = std::collections::BTreeSet::new();
        let mut seen: HashMap<Vec<u64>, Vec<usize>> = HashMap::new();
        let mut x: u64 = 12345;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Bias towards a prefix, like the search does.
            let c = ((x >> 33) as usize % 60 + truth.len() / 2) % calls.len();
            if truth.contains(&c) {
                truth.remove(&c);
                set.remove(c);
            } else {
                truth.insert(c);
                set.insert(c);
            }
            for &d in [c, (c + 7) % calls.len()].iter() {
                assert_eq!(set.contains(d), truth.contains(&d));
            }
            let mut key = Vec::new();
            set.encode(&mut key);
            let members: Vec<usize> = truth.iter().copied().collect();
            if let Some(prev) = seen.insert(key, members.clone()) {
                assert_eq!(prev, members, "two different sets share an encoding");
            }
        }
        // Re-encoding the same set built in another order gives the same key.
        let mut a = LinSet::new(&calls);
        let mut b = LinSet::new(&calls);
        for c in [3, 1, 2, 0, 45, 60] {
            a.insert(c);
        }
        for c in [60, 0, 1, 45, 2, 3, 9] {
            b.insert(c);
        }
        b.remove(9);
        let (mut ka, mut kb) = (Vec::new(), Vec::new());
        a.encode(&mut ka);
        b.encode(&mut kb);
        assert_eq!(ka, kb);
    }

    #[test]
    fn exhausted_budget_is_reported() {
        let cancel = AtomicBool::new(true);
        let calls: Vec<Call<R>> = (0..3000)
            .map(|i| call(R::Write((i % 7) as u8), i, i, usize::MAX))
            .collect();
        let out = search(
            &Reg,
            0,
            &calls,
            &Budget {
                deadline: None,
                cancel: &cancel,
                max_steps: u64::MAX,
                max_cache_bytes: Budget::CACHE_BYTES,
            },
        );
        assert!(matches!(out, SearchOutcome::Exhausted { .. }));
    }
}
