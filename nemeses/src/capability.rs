//! Which of the requested faults this machine (and this target) can inject, and why not.

use crate::net::Net;
use crate::schedule::FaultKind;
use std::collections::BTreeMap;

/// What each requested fault needs, checked now. Returns the faults that cannot be injected,
/// each with the reason.
pub fn probe(
    kinds: &[FaultKind],
    net: &Net,
    clock: Option<&dyn crate::clock::ClockSetter>,
    has_processes: bool,
) -> BTreeMap<FaultKind, String> {
    let mut missing = BTreeMap::new();
    for &k in kinds {
        let why = match k {
            FaultKind::Partition if net.nodes() < 2 => {
                Some("a partition needs at least 2 nodes".to_string())
            }
            FaultKind::Partition => None,
            FaultKind::Latency => net.latency_support().err(),
            FaultKind::Clock => match clock {
                None => Some("the target has no way to set a node's clock".into()),
                Some(c) => c.unsupported(),
            },
            FaultKind::Kill | FaultKind::Pause if !has_processes => Some(format!(
                "{k}: the target's processes are not managed by faultline (an external cluster)"
            )),
            FaultKind::Kill | FaultKind::Pause => None,
        };
        if let Some(w) = why {
            missing.insert(k, w);
        }
    }
    missing
}

/// A readable report of missing faults, one per line.
pub fn describe(missing: &BTreeMap<FaultKind, String>) -> String {
    missing
        .iter()
        .map(|(k, w)| format!("cannot inject `{k}`: {w}"))
        .collect::<Vec<_>>()
        .join("\n")
}
