//! The nemesis: starts and stops faults (each with its inverse), emitting a history event for
//! each, and the seeded schedule: pick a fault of the chosen kinds, hold it for the interval,
//! heal it, rest for the interval, repeat; heal everything at the end. Dropping a [`Nemesis`]
//! heals whatever is still active.

use crate::capability;
use crate::clock::{ClockFault, Clocks};
use crate::error::{Error, Result};
use crate::events::{self, Sink};
use crate::grudge::{self, NodeId, Pattern};
use crate::net::Net;
use crate::process::{self, NodeProcesses};
use crate::proxy::LinkFaults;
use history::sim::SplitMix64;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A kind of fault (`--nemesis partition,clock,kill,pause,latency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    Partition,
    Clock,
    Kill,
    Pause,
    Latency,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Partition,
        FaultKind::Clock,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Latency,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Clock => "clock",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Latency => "latency",
        }
    }
    /// Parses a comma-separated list; `none` or empty is no faults.
    pub fn parse_list(s: &str) -> Result<Vec<FaultKind>> {
        let mut v = Vec::new();
        for part in s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "none")
        {
            let k = FaultKind::ALL
                .into_iter()
                .find(|k| k.as_str() == part)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "unknown nemesis `{part}` (partition, clock, kill, pause, latency)"
                    ))
                })?;
            if !v.contains(&k) {
                v.push(k);
            }
        }
        Ok(v)
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The schedule's settings.
#[derive(Debug, Clone)]
pub struct NemesisConfig {
    pub kinds: Vec<FaultKind>,
    /// `None`: a random pattern among one, majority, majorities-ring, bridge (and primary when
    /// the target has one) each time.
    pub pattern: Option<Pattern>,
    /// How long a fault is held, and how long the schedule rests between faults.
    pub interval: Duration,
    pub seed: u64,
    /// The target's primary node, for the `primary` pattern.
    pub primary: Option<NodeId>,
    /// Clock offsets stay within ±this.
    pub clock_bound_ms: i64,
    pub latency: LinkFaults,
    /// Start even when some requested faults cannot be injected (they are recorded instead).
    pub allow_missing: bool,
    /// Faults the caller knows this target cannot take, with the reason (e.g. etcd's peer
    /// traffic cannot be proxied per link); merged into the capability probe.
    pub target_missing: BTreeMap<FaultKind, String>,
    /// Let faults of different kinds overlap: each interval toggles one random kind (start it
    /// if inactive, heal it if active) instead of start-hold-heal-rest.
    pub overlap: bool,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        NemesisConfig {
            kinds: Vec::new(),
            pattern: None,
            interval: Duration::from_secs(5),
            seed: 0,
            primary: None,
            clock_bound_ms: 10_000,
            latency: LinkFaults {
                delay_ms: 50,
                jitter_ms: 50,
                loss: 0.05,
            },
            allow_missing: false,
            target_missing: BTreeMap::new(),
            overlap: false,
        }
    }
}

#[derive(Debug, Clone)]
enum Active {
    Partition,
    Clock {
        strobe: Option<(Vec<NodeId>, i64, Duration)>,
    },
    Kill(Vec<NodeId>),
    Pause(Vec<NodeId>),
    Latency,
}

impl Active {
    fn kind(&self) -> FaultKind {
        match self {
            Active::Partition => FaultKind::Partition,
            Active::Clock { .. } => FaultKind::Clock,
            Active::Kill(_) => FaultKind::Kill,
            Active::Pause(_) => FaultKind::Pause,
            Active::Latency => FaultKind::Latency,
        }
    }
}

/// Injects faults into one cluster and records them.
pub struct Nemesis {
    cfg: NemesisConfig,
    net: Arc<Net>,
    clocks: Option<Clocks>,
    procs: Option<Box<dyn NodeProcesses>>,
    sink: Sink,
    rng: SplitMix64,
    missing: BTreeMap<FaultKind, String>,
    active: Vec<Active>,
}

impl std::fmt::Debug for Nemesis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nemesis")
            .field("cfg", &self.cfg)
            .field("missing", &self.missing)
            .field("active", &self.active)
            .finish()
    }
}

impl Nemesis {
    /// Probes capabilities; refuses (listing every missing fault) unless `allow_missing`.
    pub fn new(
        cfg: NemesisConfig,
        net: Arc<Net>,
        clocks: Option<Clocks>,
        procs: Option<Box<dyn NodeProcesses>>,
        sink: Sink,
    ) -> Result<Nemesis> {
        let mut missing = capability::probe(
            &cfg.kinds,
            &net,
            clocks.as_ref().map(|c| c.setter()),
            procs.is_some(),
        );
        for (k, why) in &cfg.target_missing {
            if cfg.kinds.contains(k) {
                missing.entry(*k).or_insert_with(|| why.clone());
            }
        }
        if !missing.is_empty() && !cfg.allow_missing {
            return Err(Error::Unsupported(format!(
                "{}\n(pass --allow-missing-faults to run without them; they will be recorded as unsupported)",
                capability::describe(&missing)
            )));
        }
        for (k, why) in &missing {
            tracing::warn!(fault = %k, %why, "fault cannot be injected on this machine");
        }
        Ok(Nemesis {
            rng: SplitMix64::new(cfg.seed ^ 0x6e65_6d65_7369_7321),
            cfg,
            net,
            clocks,
            procs,
            sink,
            missing,
            active: Vec::new(),
        })
    }

    /// The requested faults this machine cannot inject, with reasons.
    pub fn missing(&self) -> &BTreeMap<FaultKind, String> {
        &self.missing
    }

    pub fn net(&self) -> &Arc<Net> {
        &self.net
    }

    fn emit(&mut self, e: history::Event) {
        (self.sink)(e)
    }

    /// Starts a fault of `kind` (replacing an active one of the same kind). A fault that cannot
    /// be injected is recorded as an `info` with an error, never silently skipped.
    pub fn start(&mut self, kind: FaultKind) -> Result<()> {
        let f = format!("start-{kind}");
        if let Some(why) = self.missing.get(&kind).cloned() {
            self.emit(events::invoke(&f, Value::Null));
            self.emit(events::failed(&f, json!({"unsupported": true}), why));
            return Ok(());
        }
        if self.active.iter().any(|a| a.kind() == kind) {
            self.stop(kind)?;
        }
        let n = self.net.nodes();
        let result: Result<(Value, Value, Active)> = match kind {
            FaultKind::Partition => {
                let pattern = self.pick_pattern(n);
                let invoke = json!({"pattern": pattern.to_string()});
                grudge::grudge(&pattern, n, self.cfg.primary, &mut self.rng).and_then(|g| {
                    self.net.partition(&g)?;
                    let drops: BTreeMap<String, Vec<NodeId>> = g
                        .drops
                        .iter()
                        .map(|(a, s)| (a.to_string(), s.iter().copied().collect()))
                        .collect();
                    Ok((
                        invoke,
                        json!({"pattern": pattern.to_string(), "drops": drops, "net": self.net.mode()}),
                        Active::Partition,
                    ))
                })
            }
            FaultKind::Clock => {
                let fault = ClockFault::random(n, self.cfg.clock_bound_ms, &mut self.rng);
                let invoke = serde_json::to_value(&fault).unwrap_or(Value::Null);
                let clocks = self
                    .clocks
                    .as_mut()
                    .ok_or_else(|| Error::Unsupported("no clock setter".into()));
                clocks.and_then(|c| {
                    let offsets = c.apply(&fault, &mut self.rng)?;
                    let strobe = match &fault {
                        ClockFault::Strobe {
                            nodes,
                            delta_ms,
                            period_ms,
                        } => Some((nodes.clone(), *delta_ms, Duration::from_millis(*period_ms))),
                        _ => None,
                    };
                    Ok((
                        invoke.clone(),
                        json!({"fault": invoke, "offsets_ms": offsets_json(&offsets)}),
                        Active::Clock { strobe },
                    ))
                })
            }
            FaultKind::Kill | FaultKind::Pause => {
                let victim = 1 + self.rng.below(n as u64) as usize;
                let invoke = json!({"nodes": [victim]});
                match self.procs.as_deref() {
                    None => Err(Error::Unsupported("no node processes".into())),
                    Some(p) => {
                        let r = if kind == FaultKind::Kill {
                            process::kill(p, victim)
                        } else {
                            process::pause(p, victim)
                        };
                        r.map(|pid| {
                            let active = if kind == FaultKind::Kill {
                                Active::Kill(vec![victim])
                            } else {
                                Active::Pause(vec![victim])
                            };
                            (invoke, json!({"nodes": [victim], "pids": [pid]}), active)
                        })
                    }
                }
            }
            FaultKind::Latency => {
                let nodes: Vec<NodeId> = (1..=n).collect();
                let lf = self.cfg.latency;
                self.net.set_link_faults(&nodes, lf).map(|_| {
                    (
                        json!(lf),
                        json!({"nodes": nodes, "faults": lf, "net": self.net.mode()}),
                        Active::Latency,
                    )
                })
            }
        };
        match result {
            Ok((inv, done, active)) => {
                self.emit(events::invoke(&f, inv));
                self.emit(events::info(&f, done));
                self.active.push(active);
                tracing::info!(fault = %kind, "fault started");
                Ok(())
            }
            Err(e) => {
                self.emit(events::invoke(&f, Value::Null));
                self.emit(events::failed(&f, Value::Null, e.to_string()));
                Err(e)
            }
        }
    }

    fn pick_pattern(&mut self, n: usize) -> Pattern {
        if let Some(p) = &self.cfg.pattern {
            return p.clone();
        }
        let mut choices = vec![Pattern::One, Pattern::Majority, Pattern::MajoritiesRing];
        if n >= 3 {
            choices.push(Pattern::Bridge);
        }
        if self.cfg.primary.is_some() {
            choices.push(Pattern::Primary);
        }
        choices[self.rng.below(choices.len() as u64) as usize].clone()
    }

    /// Heals the active fault of `kind` (its inverse), if any.
    pub fn stop(&mut self, kind: FaultKind) -> Result<()> {
        let Some(pos) = self.active.iter().position(|a| a.kind() == kind) else {
            return Ok(());
        };
        let active = self.active.remove(pos);
        let f = format!("stop-{kind}");
        self.emit(events::invoke(&f, Value::Null));
        let result: Result<Value> = match &active {
            Active::Partition => self.net.heal().map(|_| json!({"healed": true})),
            Active::Clock { .. } => match self.clocks.as_mut() {
                Some(c) => c
                    .apply(&ClockFault::Reset, &mut self.rng)
                    .map(|o| json!({"offsets_ms": offsets_json(&o)})),
                None => Ok(Value::Null),
            },
            Active::Kill(nodes) => {
                let mut r = Ok(());
                if let Some(p) = self.procs.as_deref_mut() {
                    for &n in nodes {
                        if let Err(e) = process::restart(p, n) {
                            r = Err(e);
                        }
                    }
                }
                r.map(|_| json!({"restarted": nodes}))
            }
            Active::Pause(nodes) => {
                let mut r = Ok(());
                if let Some(p) = self.procs.as_deref() {
                    for &n in nodes {
                        if let Err(e) = process::resume(p, n) {
                            r = Err(e);
                        }
                    }
                }
                r.map(|_| json!({"resumed": nodes}))
            }
            Active::Latency => self
                .net
                .clear_link_faults()
                .map(|_| json!({"cleared": true})),
        };
        match result {
            Ok(v) => {
                self.emit(events::info(&f, v));
                Ok(())
            }
            Err(e) => {
                self.emit(events::failed(&f, Value::Null, e.to_string()));
                Err(e)
            }
        }
    }

    /// Heals every active fault (the final heal), and makes sure the network has no partition
    /// or link fault left even if a stop failed. Returns the first error.
    pub fn heal_all(&mut self) -> Result<()> {
        let mut first = None;
        while let Some(a) = self.active.last() {
            let k = a.kind();
            if let Err(e) = self.stop(k) {
                tracing::error!(fault = %k, %e, "healing failed");
                first.get_or_insert(e);
            }
        }
        if let Err(e) = self.net.heal() {
            first.get_or_insert(e);
        }
        if let Err(e) = self.net.clear_link_faults() {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }

    /// Holds for `d` (or until `stop`), flipping strobed clocks at their period.
    fn hold(&mut self, d: Duration, stop: &AtomicBool) {
        let end = Instant::now() + d;
        let strobe = self.active.iter().find_map(|a| match a {
            Active::Clock { strobe: Some(s) } => Some(s.clone()),
            _ => None,
        });
        let mut next_flip = strobe.as_ref().map(|s| Instant::now() + s.2);
        while Instant::now() < end && !stop.load(Ordering::SeqCst) {
            if let (Some(t), Some((nodes, delta, period))) = (next_flip, &strobe) {
                if Instant::now() >= t {
                    if let Some(c) = self.clocks.as_mut() {
                        let (f, r) = ("strobe-clock", c.strobe_flip(nodes, *delta));
                        match r {
                            Ok(o) => {
                                self.emit(events::info(f, json!({"offsets_ms": offsets_json(&o)})))
                            }
                            Err(e) => self.emit(events::failed(f, Value::Null, e.to_string())),
                        }
                    }
                    next_flip = Some(t + *period);
                }
            }
            std::thread::sleep(
                Duration::from_millis(20).min(end.saturating_duration_since(Instant::now())),
            );
        }
    }

    /// The schedule: until `stop` is set, start a random fault of the chosen kinds, hold it for
    /// the interval, heal it, rest for the interval. Always ends with [`Nemesis::heal_all`].
    pub fn run(&mut self, stop: &AtomicBool) -> Result<()> {
        let kinds = self.cfg.kinds.clone();
        let interval = self.cfg.interval;
        let mut first_err = None;
        if !kinds.is_empty() && self.cfg.overlap {
            while !stop.load(Ordering::SeqCst) {
                let kind = kinds[self.rng.below(kinds.len() as u64) as usize];
                let r = if self.active.iter().any(|a| a.kind() == kind) {
                    self.stop(kind)
                } else {
                    self.start(kind)
                };
                if let Err(e) = r {
                    tracing::error!(fault = %kind, %e, "fault failed");
                }
                self.hold(interval, stop);
            }
        } else if !kinds.is_empty() {
            while !stop.load(Ordering::SeqCst) {
                let kind = kinds[self.rng.below(kinds.len() as u64) as usize];
                if let Err(e) = self.start(kind) {
                    tracing::error!(fault = %kind, %e, "fault failed to start");
                }
                self.hold(interval, stop);
                if let Err(e) = self.stop(kind) {
                    tracing::error!(fault = %kind, %e, "fault failed to heal");
                    first_err.get_or_insert(e);
                }
                self.hold(interval, stop);
            }
        }
        if let Err(e) = self.heal_all() {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Nemesis {
    fn drop(&mut self) {
        if let Err(e) = self.heal_all() {
            tracing::error!(%e, "final heal on drop failed");
        }
    }
}

fn offsets_json(o: &BTreeMap<NodeId, i64>) -> Value {
    Value::Object(o.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_list_accepts_known_kinds_and_rejects_others() {
        assert_eq!(
            FaultKind::parse_list("partition, clock,partition").unwrap(),
            vec![FaultKind::Partition, FaultKind::Clock]
        );
        assert!(FaultKind::parse_list("none").unwrap().is_empty());
        assert!(FaultKind::parse_list("partition,meteor").is_err());
    }
}
