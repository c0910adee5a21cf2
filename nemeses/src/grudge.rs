//! Who refuses traffic from whom: a partition as data (Jepsen's "grudge"). `drops[a]` holds
//! the nodes whose packets node `a` drops. Patterns (`one`, `primary`, `majority`,
//! `majorities-ring`, `bridge`, explicit groups) build grudges from a seeded random source.

use crate::error::{Error, Result};
use history::sim::SplitMix64;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Node ids are 1-based, as in the built-in store's `--id`.
pub type NodeId = usize;

/// A partition: for every node, the set of nodes it drops packets from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grudge {
    pub drops: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

impl Grudge {
    /// Cuts every link between different components, in both directions.
    pub fn from_components(components: &[Vec<NodeId>]) -> Grudge {
        let mut g = Grudge::default();
        for (ci, c) in components.iter().enumerate() {
            for (di, d) in components.iter().enumerate() {
                if ci != di {
                    for &a in c {
                        g.drops.entry(a).or_default().extend(d.iter().copied());
                    }
                }
            }
        }
        g
    }

    /// `a` drops `b`'s packets (one direction).
    pub fn drop_from(&mut self, a: NodeId, b: NodeId) {
        if a != b {
            self.drops.entry(a).or_default().insert(b);
        }
    }

    /// Whether traffic sent by `from` reaches `to`.
    pub fn blocks(&self, from: NodeId, to: NodeId) -> bool {
        self.drops.get(&to).is_some_and(|s| s.contains(&from))
    }

    pub fn is_empty(&self) -> bool {
        self.drops.values().all(|s| s.is_empty())
    }

    /// Keeps only `a drops b` where `a` is in `receivers` (an asymmetric cut: only the
    /// receivers refuse; their own packets still get through).
    pub fn one_way(mut self, receivers: &BTreeSet<NodeId>) -> Grudge {
        self.drops.retain(|a, _| receivers.contains(a));
        self
    }
}

/// A partition pattern as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// Isolate one random node from all others.
    One,
    /// Isolate the primary (the target's leader or fixed primary).
    Primary,
    /// Split into two random halves (the larger one a majority).
    Majority,
    /// Every node sees a majority (itself and its ring neighbours), no two the same.
    MajoritiesRing,
    /// Two halves joined by one node that sees both.
    Bridge,
    /// Explicit components, e.g. `1,2|3`.
    Groups(Vec<Vec<NodeId>>),
    /// One direction only, e.g. `1,2>3`: what 1 and 2 send to 3 is dropped; 3's packets to
    /// them still arrive (an asymmetric partition).
    OneWay { from: Vec<NodeId>, to: Vec<NodeId> },
}

fn node_list(s: &str, whole: &str) -> Result<Vec<NodeId>> {
    let mut v = Vec::new();
    for n in s.split(',').filter(|x| !x.trim().is_empty()) {
        v.push(n.trim().parse::<NodeId>().map_err(|_| {
            Error::Invalid(format!(
                "partition `{whole}`: `{n}` is not a node id (expected e.g. 1,2|3 or 1,2>3)"
            ))
        })?);
    }
    if v.is_empty() {
        return Err(Error::Invalid(format!(
            "partition `{whole}`: an empty side"
        )));
    }
    Ok(v)
}

impl std::str::FromStr for Pattern {
    type Err = Error;
    fn from_str(s: &str) -> Result<Pattern> {
        Ok(match s {
            "one" => Pattern::One,
            "primary" => Pattern::Primary,
            "majority" => Pattern::Majority,
            "majorities-ring" => Pattern::MajoritiesRing,
            "bridge" => Pattern::Bridge,
            one_way if one_way.contains('>') => {
                let (from, to) = one_way.split_once('>').unwrap_or_default();
                Pattern::OneWay {
                    from: node_list(from, s)?,
                    to: node_list(to, s)?,
                }
            }
            groups if groups.contains('|') => {
                let mut comps = Vec::new();
                for part in groups.split('|') {
                    let mut c = Vec::new();
                    for n in part.split(',').filter(|x| !x.trim().is_empty()) {
                        c.push(n.trim().parse::<NodeId>().map_err(|_| {
                            Error::Invalid(format!(
                                "partition groups `{s}`: `{n}` is not a node id (expected e.g. 1,2|3)"
                            ))
                        })?);
                    }
                    comps.push(c);
                }
                Pattern::Groups(comps)
            }
            other => {
                return Err(Error::Invalid(format!(
                    "unknown partition pattern `{other}` (one, primary, majority, majorities-ring, bridge, groups like 1,2|3, or one-way like 1,2>3)"
                )))
            }
        })
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::One => f.write_str("one"),
            Pattern::Primary => f.write_str("primary"),
            Pattern::Majority => f.write_str("majority"),
            Pattern::MajoritiesRing => f.write_str("majorities-ring"),
            Pattern::Bridge => f.write_str("bridge"),
            Pattern::Groups(g) => {
                let parts: Vec<String> = g
                    .iter()
                    .map(|c| {
                        c.iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect();
                f.write_str(&parts.join("|"))
            }
            Pattern::OneWay { from, to } => {
                let list = |v: &[NodeId]| {
                    v.iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                write!(f, "{}>{}", list(from), list(to))
            }
        }
    }
}

fn shuffled(n: usize, rng: &mut SplitMix64) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = (1..=n).collect();
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

/// Builds the grudge for `pattern` over nodes `1..=n`. `primary` is the target's primary when
/// it has one (required by `Pattern::Primary`).
pub fn grudge(
    pattern: &Pattern,
    n: usize,
    primary: Option<NodeId>,
    rng: &mut SplitMix64,
) -> Result<Grudge> {
    if n < 2 {
        return Err(Error::Invalid(format!(
            "a partition needs at least 2 nodes, the cluster has {n}"
        )));
    }
    Ok(match pattern {
        Pattern::One => {
            let victim = 1 + rng.below(n as u64) as usize;
            let rest: Vec<NodeId> = (1..=n).filter(|&x| x != victim).collect();
            Grudge::from_components(&[vec![victim], rest])
        }
        Pattern::Primary => {
            let p = primary.ok_or_else(|| {
                Error::Unsupported("partition pattern `primary`: this target has no primary".into())
            })?;
            if p == 0 || p > n {
                return Err(Error::Invalid(format!(
                    "primary {p} is not a node of 1..={n}"
                )));
            }
            let rest: Vec<NodeId> = (1..=n).filter(|&x| x != p).collect();
            Grudge::from_components(&[vec![p], rest])
        }
        Pattern::Majority => {
            let v = shuffled(n, rng);
            let (a, b) = v.split_at(n / 2 + 1);
            Grudge::from_components(&[a.to_vec(), b.to_vec()])
        }
        Pattern::MajoritiesRing => {
            // Ring order from a shuffle; each node sees itself and its ring neighbours within
            // radius r, the smallest window that is a majority. Windows are symmetric, so the
            // cut is too, and every node's view is a distinct majority.
            let ring = shuffled(n, rng);
            let m = n / 2 + 1;
            let r = m / 2;
            let mut g = Grudge::default();
            for (k, &a) in ring.iter().enumerate() {
                for (j, &b) in ring.iter().enumerate() {
                    let d = (k as isize - j as isize).rem_euclid(n as isize) as usize;
                    if d.min(n - d) > r {
                        g.drop_from(a, b);
                    }
                }
            }
            g
        }
        Pattern::Bridge => {
            if n < 3 {
                return Err(Error::Invalid(format!(
                    "partition pattern `bridge` needs at least 3 nodes, the cluster has {n}"
                )));
            }
            let v = shuffled(n, rng);
            let bridge = v[0];
            let rest = &v[1..];
            let (a, b) = rest.split_at(rest.len() / 2);
            let mut g = Grudge::from_components(&[a.to_vec(), b.to_vec()]);
            g.drops.remove(&bridge);
            g
        }
        Pattern::OneWay { from, to } => {
            let mut g = Grudge::default();
            for &x in from.iter().chain(to) {
                if x == 0 || x > n {
                    return Err(Error::Invalid(format!(
                        "partition `{pattern}`: node {x} is not in 1..={n}"
                    )));
                }
            }
            for &b in to {
                for &a in from {
                    if a == b {
                        return Err(Error::Invalid(format!(
                            "partition `{pattern}`: node {a} is on both sides"
                        )));
                    }
                    g.drop_from(b, a);
                }
            }
            g
        }
        Pattern::Groups(groups) => {
            let mut seen = BTreeSet::new();
            for &x in groups.iter().flatten() {
                if x == 0 || x > n {
                    return Err(Error::Invalid(format!(
                        "partition groups `{pattern}`: node {x} is not in 1..={n}"
                    )));
                }
                if !seen.insert(x) {
                    return Err(Error::Invalid(format!(
                        "partition groups `{pattern}`: node {x} appears twice"
                    )));
                }
            }
            let mut comps = groups.clone();
            let rest: Vec<NodeId> = (1..=n).filter(|x| !seen.contains(x)).collect();
            if !rest.is_empty() {
                comps.push(rest);
            }
            Grudge::from_components(&comps)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(g: &Grudge, a: NodeId, b: NodeId) -> bool {
        !g.blocks(a, b) && !g.blocks(b, a)
    }

    #[test]
    fn one_isolates_exactly_one_node() {
        let mut rng = SplitMix64::new(7);
        let g = grudge(&Pattern::One, 5, None, &mut rng).unwrap();
        let isolated: Vec<NodeId> = (1..=5)
            .filter(|&a| (1..=5).filter(|&b| b != a).all(|b| !reach(&g, a, b)))
            .collect();
        assert_eq!(isolated.len(), 1);
        let others: Vec<NodeId> = (1..=5).filter(|x| *x != isolated[0]).collect();
        for &a in &others {
            for &b in &others {
                assert!(reach(&g, a, b));
            }
        }
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        for n in [3usize, 5, 7] {
            let g = grudge(
                &Pattern::MajoritiesRing,
                n,
                None,
                &mut SplitMix64::new(n as u64),
            )
            .unwrap();
            let mut views = BTreeSet::new();
            for a in 1..=n {
                let view: BTreeSet<NodeId> = (1..=n).filter(|&b| reach(&g, a, b)).collect();
                assert!(view.len() > n / 2, "n={n} node {a} sees {view:?}");
                views.insert(view);
            }
            if n > 3 {
                assert_eq!(views.len(), n, "n={n}: views are not distinct");
            }
        }
    }

    #[test]
    fn bridge_node_sees_both_halves_which_do_not_see_each_other() {
        let g = grudge(&Pattern::Bridge, 5, None, &mut SplitMix64::new(3)).unwrap();
        let bridge: Vec<NodeId> = (1..=5)
            .filter(|&a| (1..=5).all(|b| reach(&g, a, b)))
            .collect();
        assert_eq!(bridge.len(), 1);
        let cut = (1..=5)
            .flat_map(|a| (1..=5).map(move |b| (a, b)))
            .filter(|&(a, b)| !reach(&g, a, b))
            .count();
        assert_eq!(cut, 8); // 2x2 pairs, both orders
    }

    #[test]
    fn explicit_groups_parse_and_check() {
        let p: Pattern = "1,2|3".parse().unwrap();
        let g = grudge(&p, 4, None, &mut SplitMix64::new(1)).unwrap();
        assert!(reach(&g, 1, 2) && !reach(&g, 1, 3) && !reach(&g, 3, 4) && !reach(&g, 1, 4));
        assert!("1,x|3".parse::<Pattern>().is_err());
        assert!(grudge(&"1|9".parse().unwrap(), 3, None, &mut SplitMix64::new(1)).is_err());
        assert!("sideways".parse::<Pattern>().is_err());
        assert!(grudge(&Pattern::Primary, 3, None, &mut SplitMix64::new(1)).is_err());
    }

    #[test]
    fn one_way_drops_only_what_the_first_side_sends() {
        let p: Pattern = "1,2>3".parse().unwrap();
        assert_eq!(p.to_string(), "1,2>3");
        let g = grudge(&p, 3, None, &mut SplitMix64::new(1)).unwrap();
        assert!(g.blocks(1, 3) && g.blocks(2, 3));
        assert!(!g.blocks(3, 1) && !g.blocks(3, 2) && !g.blocks(1, 2));
        assert!(grudge(&"1>1".parse().unwrap(), 3, None, &mut SplitMix64::new(1)).is_err());
        assert!(">3".parse::<Pattern>().is_err());
    }

    #[test]
    fn majority_cuts_into_a_majority_and_a_minority() {
        let g = grudge(&Pattern::Majority, 5, None, &mut SplitMix64::new(9)).unwrap();
        let comp_of_1: BTreeSet<NodeId> = (1..=5).filter(|&b| reach(&g, 1, b)).collect();
        assert!(comp_of_1.len() == 3 || comp_of_1.len() == 2);
    }
}
