//! Session guarantees (Terry et al.) on list-append histories, judged per key on the *set* of
//! appends each read saw: read-your-writes, monotonic reads, monotonic writes and
//! writes-follow-reads.
//!
//! A session is a process; its order is the order of its non-failed transactions, and within a
//! transaction the order of its micro-ops. Failed appends never took effect and are never
//! required; `info` appends are required only once something shows they took effect (a read of
//! them). Each detector first finds [`SessionMiss`]es (data: which read, which element, why)
//! and then renders them as [`Anomaly`]s, so the causal checker can tell which of its misses a
//! session guarantee already explains.

use crate::anomaly::Anomaly;
use crate::appends::{AppendIndex, IntMap, NONE};
use serde_json::Value;

/// Why a read should have contained an element it lacks (or had it in the wrong order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Because {
    /// The reader's own session appended it before the read.
    OwnWrite,
    /// An earlier read of the reader's session (index into `reads`) contained it.
    EarlierRead { read: u32 },
    /// The read contains `later`, which the same session appended after the missing element.
    SessionWrite { later: u32 },
    /// The read contains the missing element's session-later element `later` *before* it.
    Misordered { later: u32 },
    /// The read contains `later`, whose session had read the missing element (in read `read`)
    /// before appending `later`.
    ReadBefore { read: u32, later: u32 },
}

/// One read that breaks a session guarantee: the first offending element and all of them.
#[derive(Debug, Clone)]
pub struct SessionMiss {
    pub kind: &'static str,
    /// Index into `AppendIndex::reads`.
    pub read: u32,
    pub elem: u32,
    pub because: Because,
    /// Every element this read lacks for this guarantee (empty for `Misordered`).
    pub missing: Vec<u32>,
}

/// Stamps elements of the current read so membership is O(1).
pub struct Marks {
    stamp: Vec<u32>,
    cur: u32,
}

impl Marks {
    pub fn new(elems: usize) -> Marks {
        Marks {
            stamp: vec![0; elems],
            cur: 0,
        }
    }
    /// Marks exactly `elems` (forgetting the previous set).
    pub fn set(&mut self, elems: &[u32]) {
        self.cur += 1;
        if self.cur == u32::MAX {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.cur = 1;
        }
        for &e in elems {
            self.stamp[e as usize] = self.cur;
        }
    }
    /// Adds one element to the current set.
    pub fn set_one(&mut self, e: u32) {
        self.stamp[e as usize] = self.cur;
    }
    pub fn has(&self, e: u32) -> bool {
        self.stamp[e as usize] == self.cur
    }
}

/// Per element: its session chain (the appends to its key by its writer's session, in session
/// order) as a range of `flat`, and its position in it.
pub struct Chains {
    pub flat: Vec<u32>,
    /// Per element id: start and end of its chain in `flat` (NONE if not a real append).
    pub start: Vec<u32>,
    pub end: Vec<u32>,
    pub pos: Vec<u32>,
    /// Per key: its chains as (lane, start, end).
    pub of_key: Vec<Vec<(u32, u32, u32)>>,
}

impl Chains {
    pub fn build(ix: &AppendIndex) -> Chains {
        let n = ix.appends.len();
        let mut c = Chains {
            flat: Vec::with_capacity(n),
            start: vec![NONE; n],
            end: vec![NONE; n],
            pos: vec![NONE; n],
            of_key: vec![Vec::new(); ix.key_appends.len()],
        };
        let mut by_lane: IntMap<u32, Vec<u32>> = IntMap::default();
        let mut lanes: Vec<u32> = Vec::new();
        for (k, elems) in ix.key_appends.iter().enumerate() {
            by_lane.values_mut().for_each(Vec::clear);
            lanes.clear();
            for &e in elems {
                let l = ix.lane[ix.appends[e as usize].op as usize];
                let v = by_lane.entry(l).or_default();
                if v.is_empty() {
                    lanes.push(l);
                }
                v.push(e);
            }
            for &l in &lanes {
                let s = c.flat.len() as u32;
                let v = &by_lane[&l];
                for (i, &e) in v.iter().enumerate() {
                    c.start[e as usize] = s;
                    c.end[e as usize] = s + v.len() as u32;
                    c.pos[e as usize] = i as u32;
                }
                c.flat.extend_from_slice(v);
                c.of_key[k].push((l, s, s + v.len() as u32));
            }
            c.of_key[k].sort_unstable_by_key(|c| c.0);
            if by_lane.len() > 64 {
                by_lane.clear();
            }
        }
        c
    }
    /// The chain of `lane`'s appends to `key`, if it appended to it.
    pub fn of(&self, key: u32, lane: u32) -> Option<&[u32]> {
        let cs = &self.of_key[key as usize];
        let i = cs.binary_search_by_key(&lane, |c| c.0).ok()?;
        Some(&self.flat[cs[i].1 as usize..cs[i].2 as usize])
    }
    pub fn chain(&self, e: u32) -> &[u32] {
        &self.flat[self.start[e as usize] as usize..self.end[e as usize] as usize]
    }
}

/// What every session detector needs, built once.
pub struct SessionIndex<'a, 'h> {
    pub ix: &'a AppendIndex<'h>,
    pub chains: Chains,
    /// Per (lane, key): the ordered union of elements the session read, each with the first
    /// read that returned it.
    pub unions: IntMap<u64, Vec<(u32, u32)>>,
    /// Per element: how much of its session's union (for its key) existed when it was appended.
    pub union_len_at_append: Vec<u32>,
    /// Monotonic-reads misses, found while building the unions.
    mr: Vec<SessionMiss>,
}

fn lane_key(lane: u32, key: u32) -> u64 {
    ((lane as u64) << 32) | key as u64
}

impl<'a, 'h> SessionIndex<'a, 'h> {
    pub fn build(ix: &'a AppendIndex<'h>) -> SessionIndex<'a, 'h> {
        let chains = Chains::build(ix);
        let mut unions: IntMap<u64, Vec<(u32, u32)>> = IntMap::default();
        let mut ulen = vec![0u32; ix.appends.len()];
        let mut marks = Marks::new(ix.appends.len());
        let mut umarks = Marks::new(ix.appends.len());
        let mut mr = Vec::new();
        for (lane, ops) in ix.lane_ops.iter().enumerate() {
            let lane = lane as u32;
            for &op in ops {
                let op = op as usize;
                let reads = ix.reads_of(op);
                let apps = ix.appends_of(op);
                // Walk the transaction's micro-ops in order: reads and appends interleaved.
                let (mut ri, mut ai) = (reads.start, 0usize);
                loop {
                    let rm = (ri < reads.end).then(|| ix.reads[ri].mop);
                    let am = (ai < apps.len()).then(|| ix.appends[apps[ai] as usize].mop);
                    match (rm, am) {
                        (None, None) => break,
                        (Some(r), a) if !matches!(a, Some(a) if a < r) => {
                            let read = &ix.reads[ri];
                            let u = unions.entry(lane_key(lane, read.key)).or_default();
                            if !u.is_empty() {
                                marks.set(ix.elems(read));
                            }
                            umarks.set(&[]);
                            let mut missing = Vec::new();
                            let mut first = None;
                            for &(e, from) in u.iter() {
                                umarks.set_one(e);
                                if !marks.has(e) {
                                    missing.push(e);
                                    first.get_or_insert((e, from));
                                }
                            }
                            if let Some((e, from)) = first {
                                mr.push(SessionMiss {
                                    kind: "monotonic-reads",
                                    read: ri as u32,
                                    elem: e,
                                    because: Because::EarlierRead { read: from },
                                    missing,
                                });
                            }
                            for &e in ix.elems(read) {
                                if !umarks.has(e) && ix.is_real(e) {
                                    umarks.set_one(e);
                                    u.push((e, ri as u32));
                                }
                            }
                            ri += 1;
                        }
                        (_, Some(_)) => {
                            let e = apps[ai];
                            let k = ix.appends[e as usize].key;
                            ulen[e as usize] =
                                unions.get(&lane_key(lane, k)).map_or(0, |u| u.len() as u32);
                            ai += 1;
                        }
                        (Some(_), None) => unreachable!("handled by the guarded arm"),
                    }
                }
            }
        }
        SessionIndex {
            ix,
            chains,
            unions,
            union_len_at_append: ulen,
            mr,
        }
    }

    /// Read-your-writes misses: a read lacks an append its own session made before it (in an
    /// earlier transaction, or earlier in the same transaction).
    pub fn read_your_writes(&self) -> Vec<SessionMiss> {
        let ix = self.ix;
        let c = &self.chains;
        let mut out = Vec::new();
        let mut marks = Marks::new(ix.appends.len());
        for (ri, r) in ix.reads.iter().enumerate() {
            let (lane, seq) = (ix.lane[r.op as usize], ix.seq[r.op as usize]);
            let Some(chain) = c.of(r.key, lane) else {
                continue;
            };
            // The session's appends to this key before the read: earlier transactions, and
            // earlier micro-ops of this one. Only acknowledged appends are required of later
            // transactions; a lane's transactions are ok except possibly its last (info),
            // which nothing follows.
            let before = chain
                .iter()
                .take_while(|&&e| {
                    let s = ix.elem_seq[e as usize];
                    s < seq || (s == seq && ix.appends[e as usize].mop < r.mop)
                })
                .count();
            if before == 0 {
                continue;
            }
            marks.set(ix.elems(r));
            let missing: Vec<u32> = chain[..before]
                .iter()
                .copied()
                .filter(|&e| !marks.has(e))
                .collect();
            if let Some(&e) = missing.first() {
                out.push(SessionMiss {
                    kind: "read-your-writes",
                    read: ri as u32,
                    elem: e,
                    because: Because::OwnWrite,
                    missing,
                });
            }
        }
        out
    }

    /// Monotonic-reads misses: a read lacks an element an earlier read of its session returned.
    pub fn monotonic_reads(&self) -> Vec<SessionMiss> {
        self.mr.clone()
    }

    /// Monotonic-writes misses: a read contains a session's later append but lacks one of its
    /// earlier appends to the same key, or has the two in the opposite order.
    pub fn monotonic_writes(&self) -> Vec<SessionMiss> {
        let ix = self.ix;
        let c = &self.chains;
        let mut out = Vec::new();
        let mut marks = Marks::new(ix.appends.len());
        // chain start -> (max pos, element at max pos)
        let mut seen: IntMap<u32, (u32, u32)> = IntMap::default();
        let mut starts: Vec<(u32, (u32, u32))> = Vec::new();
        for (ri, r) in ix.reads.iter().enumerate() {
            seen.clear();
            let mut marked = false;
            let mut misordered = None;
            for &e in ix.elems(r) {
                if c.start[e as usize] == NONE {
                    continue;
                }
                let p = c.pos[e as usize];
                match seen.get_mut(&c.start[e as usize]) {
                    None => {
                        seen.insert(c.start[e as usize], (p, e));
                    }
                    Some(m) => {
                        if p < m.0 {
                            misordered.get_or_insert((e, m.1));
                        } else {
                            *m = (p, e);
                        }
                    }
                }
            }
            let mut missing = Vec::new();
            let mut first = None;
            starts.clear();
            starts.extend(seen.iter().map(|(&s, &v)| (s, v)));
            starts.sort_unstable();
            for &(_, (maxpos, later)) in &starts {
                if maxpos > 0 && !marked {
                    marks.set(ix.elems(r));
                    marked = true;
                }
                for &e in &c.chain(later)[..maxpos as usize] {
                    if !marks.has(e) {
                        missing.push(e);
                        first.get_or_insert((e, later));
                    }
                }
            }
            if let Some((e, later)) = first {
                out.push(SessionMiss {
                    kind: "monotonic-writes",
                    read: ri as u32,
                    elem: e,
                    because: Because::SessionWrite { later },
                    missing,
                });
            } else if let Some((e, later)) = misordered {
                out.push(SessionMiss {
                    kind: "monotonic-writes",
                    read: ri as u32,
                    elem: e,
                    because: Because::Misordered { later },
                    missing: Vec::new(),
                });
            }
        }
        out
    }

    /// Writes-follow-reads misses: a read contains an append `w` but lacks an element of the
    /// same key that `w`'s session had read before appending `w`.
    pub fn writes_follow_reads(&self) -> Vec<SessionMiss> {
        let ix = self.ix;
        let mut out = Vec::new();
        let mut marks = Marks::new(ix.appends.len());
        // lane -> (union length needed, element that needs it)
        let mut need: IntMap<u32, (u32, u32)> = IntMap::default();
        let mut lanes: Vec<(u32, (u32, u32))> = Vec::new();
        for (ri, r) in ix.reads.iter().enumerate() {
            need.clear();
            for &e in ix.elems(r) {
                if !ix.is_real(e) {
                    continue;
                }
                let len = self.union_len_at_append[e as usize];
                if len == 0 {
                    continue;
                }
                let lane = ix.lane[ix.appends[e as usize].op as usize];
                let n = need.entry(lane).or_insert((0, e));
                if len > n.0 {
                    *n = (len, e);
                }
            }
            if need.is_empty() {
                continue;
            }
            marks.set(ix.elems(r));
            lanes.clear();
            lanes.extend(need.iter().map(|(&l, &v)| (l, v)));
            lanes.sort_unstable();
            let mut missing = Vec::new();
            let mut first = None;
            for &(lane, (len, later)) in &lanes {
                let u = &self.unions[&lane_key(lane, r.key)];
                for &(e, from) in &u[..len as usize] {
                    if !marks.has(e) {
                        missing.push(e);
                        first.get_or_insert((e, from, later));
                    }
                }
            }
            if let Some((e, from, later)) = first {
                out.push(SessionMiss {
                    kind: "writes-follow-reads",
                    read: ri as u32,
                    elem: e,
                    because: Because::ReadBefore { read: from, later },
                    missing,
                });
            }
        }
        out
    }
}

/// Renders a session miss as an anomaly with a sentence a person can check.
pub fn render(ix: &AppendIndex, m: &SessionMiss) -> Anomaly {
    let r = &ix.reads[m.read as usize];
    let key = ix.show_key(r.key);
    let reader = r.op;
    let read_as = format!("read {key} as {}", ix.show_list(ix.elems(r)));
    let a = ix.appends[m.elem as usize];
    let x = ix.show_elem(m.elem);
    let (ops, text) = match m.because {
        Because::OwnWrite => {
            let text = if a.op == reader {
                format!(
                    "{} appended {x} to {key} and later in the same transaction {read_as}, which lacks {x}",
                    ix.describe(reader)
                )
            } else {
                format!(
                    "process {} appended {x} to {key} ({}) and later {read_as} (op {}), which lacks {x}",
                    ix.process(reader),
                    ix.op_ok(a.op),
                    ix.index(reader)
                )
            };
            let ops = if a.op == reader {
                vec![ix.index(reader)]
            } else {
                vec![ix.index(a.op), ix.index(reader)]
            };
            (ops, text)
        }
        Because::EarlierRead { read } => {
            let r0 = &ix.reads[read as usize];
            (
                vec![ix.index(r0.op), ix.index(reader)],
                format!(
                    "process {} read {key} as {} (op {}) and later {read_as} (op {}), which lacks {x}",
                    ix.process(reader),
                    ix.show_list(ix.elems(r0)),
                    ix.index(r0.op),
                    ix.index(reader)
                ),
            )
        }
        Because::SessionWrite { later } | Because::Misordered { later } => {
            let b = ix.appends[later as usize];
            let y = ix.show_elem(later);
            let tail = if matches!(m.because, Because::Misordered { .. }) {
                format!("which has {y} before {x}")
            } else {
                format!("which has {y} but lacks {x}")
            };
            let writes = if a.op == b.op {
                format!("{} appended {x} and then {y} to {key}", ix.describe(a.op))
            } else {
                format!(
                    "process {} appended {x} to {key} (op {}) and later appended {y} to {key} (op {})",
                    ix.process(a.op),
                    ix.index(a.op),
                    ix.index(b.op)
                )
            };
            let mut ops = vec![ix.index(a.op)];
            if b.op != a.op {
                ops.push(ix.index(b.op));
            }
            ops.push(ix.index(reader));
            (
                ops,
                format!("{writes}; {} {read_as}, {tail}", ix.describe(reader)),
            )
        }
        Because::ReadBefore { read, later } => {
            let r0 = &ix.reads[read as usize];
            let b = ix.appends[later as usize];
            let y = ix.show_elem(later);
            let mut ops = vec![ix.index(r0.op)];
            if b.op != r0.op {
                ops.push(ix.index(b.op));
            }
            ops.push(ix.index(reader));
            (
                ops,
                format!(
                    "process {} read {key} as {} (op {}) and then appended {y} to {key} (op {}); {} {read_as}, which has {y} but lacks {x}",
                    ix.process(b.op),
                    ix.show_list(ix.elems(r0)),
                    ix.index(r0.op),
                    ix.index(b.op),
                    ix.describe(reader)
                ),
            )
        }
    };
    let mut an = Anomaly::new(m.kind, ops, text).with_key(ix.key_json(r.key));
    if !m.missing.is_empty() {
        an = an.with_data(
            "missing",
            Value::Array(
                m.missing
                    .iter()
                    .map(|&e| ix.vals.value(ix.appends[e as usize].value).clone())
                    .collect(),
            ),
        );
    }
    an
}

/// `read-your-writes` anomalies.
pub fn read_your_writes_cases(s: &SessionIndex) -> Vec<Anomaly> {
    s.read_your_writes()
        .iter()
        .map(|m| render(s.ix, m))
        .collect()
}

/// `monotonic-reads` anomalies.
pub fn monotonic_reads_cases(s: &SessionIndex) -> Vec<Anomaly> {
    s.monotonic_reads()
        .iter()
        .map(|m| render(s.ix, m))
        .collect()
}

/// `monotonic-writes` anomalies.
pub fn monotonic_writes_cases(s: &SessionIndex) -> Vec<Anomaly> {
    s.monotonic_writes()
        .iter()
        .map(|m| render(s.ix, m))
        .collect()
}

/// `writes-follow-reads` anomalies.
pub fn writes_follow_reads_cases(s: &SessionIndex) -> Vec<Anomaly> {
    s.writes_follow_reads()
        .iter()
        .map(|m| render(s.ix, m))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appends::notation::hist;

    fn run(h: &str, f: fn(&SessionIndex) -> Vec<Anomaly>) -> Vec<Anomaly> {
        let h = hist(h);
        let ix = AppendIndex::build(&h).unwrap();
        let s = SessionIndex::build(&ix);
        f(&s)
    }

    #[test]
    fn read_your_writes() {
        let a = run(
            "3 ok append x 7; 1 ok append x 1; 3 ok r x [1]",
            read_your_writes_cases,
        );
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].ops, vec![0, 4]);
        assert_eq!(
            a[0].explanation,
            "process 3 appended 7 to x (op 0, ok) and later read x as [1] (op 4), which lacks 7"
        );
        // Nearest valid: the read has it; another process's read need not.
        assert!(run(
            "3 ok append x 7; 1 ok r x []; 3 ok r x [7]",
            read_your_writes_cases
        )
        .is_empty());
        // A failed append is never required.
        assert!(run("3 fail append x 7; 3 ok r x []", read_your_writes_cases).is_empty());
        // Within one transaction.
        let a = run("3 ok append x 7 r x []", read_your_writes_cases);
        assert_eq!(a.len(), 1);
        assert!(run("3 ok r x [] append x 7", read_your_writes_cases).is_empty());
    }

    #[test]
    fn monotonic_reads() {
        let h = "0 ok append x 1; 0 ok append x 2; 2 ok r x [1 2]; 2 ok r x [1]";
        let a = run(h, monotonic_reads_cases);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].ops, vec![4, 6]);
        assert!(a[0].explanation.contains(
            "process 2 read x as [1 2] (op 4) and later read x as [1] (op 6), which lacks 2"
        ));
        // Nearest valid: a later read with more, in another order (order is not MR's concern).
        assert!(run(
            "0 ok append x 1; 1 ok append x 2; 2 ok r x [1]; 2 ok r x [2 1]",
            monotonic_reads_cases
        )
        .is_empty());
        // Different sessions may go back.
        assert!(run(
            "0 ok append x 1; 2 ok r x [1]; 3 ok r x []",
            monotonic_reads_cases
        )
        .is_empty());
    }

    #[test]
    fn monotonic_writes() {
        let a = run(
            "1 ok append x 3; 1 ok append x 5; 2 ok r x [5]",
            monotonic_writes_cases,
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].ops, vec![0, 2, 4]);
        assert!(
            a[0].explanation.contains("which has 5 but lacks 3"),
            "{}",
            a[0].explanation
        );
        let a = run(
            "1 ok append x 3; 1 ok append x 5; 2 ok r x [5 3]",
            monotonic_writes_cases,
        );
        assert_eq!(a.len(), 1);
        assert!(a[0].explanation.contains("which has 5 before 3"));
        // Nearest valid: both, in order, with others interleaved; or only the earlier one.
        assert!(run(
            "1 ok append x 3; 1 ok append x 5; 0 ok append x 4; 2 ok r x [3 4 5]; 2 ok r x [3]",
            monotonic_writes_cases
        )
        .is_empty());
        // A failed earlier append is not required.
        assert!(run(
            "1 fail append x 3; 1 ok append x 5; 2 ok r x [5]",
            monotonic_writes_cases
        )
        .is_empty());
    }

    #[test]
    fn writes_follow_reads() {
        let a = run(
            "0 ok append x 3; 1 ok r x [3]; 1 ok append x 5; 2 ok r x [5]",
            writes_follow_reads_cases,
        );
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].ops, vec![2, 4, 6]);
        assert!(a[0].explanation.contains(
            "process 1 read x as [3] (op 2) and then appended 5 to x (op 4); op 6 (process 2, ok) read x as [5], which has 5 but lacks 3"
        ), "{}", a[0].explanation);
        // Nearest valid: the writer had not read 3, so [5] is fine.
        assert!(run(
            "0 ok append x 3; 1 ok r x []; 1 ok append x 5; 2 ok r x [5]",
            writes_follow_reads_cases
        )
        .is_empty());
        // Or the reader saw both (in either order: concurrent appends may be arbitrated).
        assert!(run(
            "0 ok append x 3; 1 ok r x [3]; 1 ok append x 5; 2 ok r x [3 5]",
            writes_follow_reads_cases
        )
        .is_empty());
    }
}
