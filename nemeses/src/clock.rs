//! Clock skew through a pluggable setter: the built-in store takes an offset on its control
//! API; other programs run under libfaketime, whose timestamp file we rewrite; a target whose
//! clock cannot be skewed (etcd: Go reads the vDSO directly) says so instead of pretending.
//! Faults as data: `bump`, `strobe`, `scramble`, `reset`, each yielding every node's offset.

use crate::error::{Error, Result};
use crate::grudge::NodeId;
use crate::state::{Resource, StateFile};
use history::sim::SplitMix64;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where Debian's libfaketime lives.
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Sets one node's clock offset.
pub trait ClockSetter: Send + Sync {
    /// Why this setter cannot skew clocks on this machine, if it cannot.
    fn unsupported(&self) -> Option<String> {
        None
    }
    fn set_offset(&self, node: NodeId, offset_ms: i64) -> Result<()>;
    /// A short name for reports (`control-api`, `libfaketime`, ...).
    fn name(&self) -> &'static str;
}

/// The built-in store: `POST /control/clock {"offset_ms": N}` on each node.
#[derive(Debug, Clone)]
pub struct ControlApiClock {
    pub addrs: BTreeMap<NodeId, SocketAddr>,
    pub timeout: Duration,
}

impl ControlApiClock {
    pub fn new(addrs: BTreeMap<NodeId, SocketAddr>) -> ControlApiClock {
        ControlApiClock {
            addrs,
            timeout: Duration::from_secs(3),
        }
    }
}

impl ClockSetter for ControlApiClock {
    fn set_offset(&self, node: NodeId, offset_ms: i64) -> Result<()> {
        let addr = self
            .addrs
            .get(&node)
            .ok_or_else(|| Error::Invalid(format!("no node {node}")))?;
        let body = serde_json::json!({ "offset_ms": offset_ms }).to_string();
        let (status, text) =
            post_json(*addr, "/control/clock", &body, self.timeout).map_err(|e| Error::Node {
                node,
                problem: format!("POST /control/clock at {addr}: {e}"),
            })?;
        if status != 200 {
            return Err(Error::Node {
                node,
                problem: format!("POST /control/clock answered {status}: {text}"),
            });
        }
        Ok(())
    }
    fn name(&self) -> &'static str {
        "control-api"
    }
}

/// Programs that read time through libc: each node runs with `LD_PRELOAD` of libfaketime and
/// its own `FAKETIME_TIMESTAMP_FILE`, which we rewrite (atomically) to change the offset.
#[derive(Debug, Clone)]
pub struct FaketimeClock {
    files: BTreeMap<NodeId, PathBuf>,
    lib: PathBuf,
}

impl FaketimeClock {
    /// Creates `dir/faketime-N` (offset 0) for each node, recorded in `state`.
    pub fn create(dir: &Path, nodes: usize, state: &StateFile) -> Result<FaketimeClock> {
        let mut files = BTreeMap::new();
        for n in 1..=nodes {
            let path = dir.join(format!("faketime-{n}"));
            state.add(&Resource::File { path: path.clone() })?;
            write_offset(&path, 0)?;
            files.insert(n, path);
        }
        Ok(FaketimeClock {
            files,
            lib: PathBuf::from(LIBFAKETIME),
        })
    }

    /// The environment node `node`'s process needs.
    pub fn env(&self, node: NodeId) -> Vec<(String, String)> {
        let Some(f) = self.files.get(&node) else {
            return Vec::new();
        };
        vec![
            ("LD_PRELOAD".into(), self.lib.display().to_string()),
            ("FAKETIME_TIMESTAMP_FILE".into(), f.display().to_string()),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
        ]
    }
}

/// libfaketime's relative offset syntax, in seconds with milliseconds: `+1.500`, `-0.250`.
pub fn faketime_spec(offset_ms: i64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let a = offset_ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

fn write_offset(path: &Path, offset_ms: i64) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n", faketime_spec(offset_ms)))
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

impl ClockSetter for FaketimeClock {
    fn unsupported(&self) -> Option<String> {
        (!self.lib.exists()).then(|| {
            format!(
                "libfaketime is not installed ({} missing; Debian: apt-get install faketime libfaketime)",
                self.lib.display()
            )
        })
    }
    fn set_offset(&self, node: NodeId, offset_ms: i64) -> Result<()> {
        let f = self
            .files
            .get(&node)
            .ok_or_else(|| Error::Invalid(format!("no node {node}")))?;
        write_offset(f, offset_ms)
    }
    fn name(&self) -> &'static str {
        "libfaketime"
    }
}

/// A target whose clock cannot be skewed here; every attempt is an [`Error::Unsupported`].
#[derive(Debug, Clone)]
pub struct UnsupportedClock(pub String);

impl UnsupportedClock {
    pub fn etcd() -> UnsupportedClock {
        UnsupportedClock(
            "etcd is a Go program: Go reads the wall clock through the vDSO, so libfaketime cannot \
             skew it, and changing the host clock is not allowed; clock faults are not injected"
                .into(),
        )
    }
}

impl ClockSetter for UnsupportedClock {
    fn unsupported(&self) -> Option<String> {
        Some(self.0.clone())
    }
    fn set_offset(&self, _node: NodeId, _offset_ms: i64) -> Result<()> {
        Err(Error::Unsupported(self.0.clone()))
    }
    fn name(&self) -> &'static str {
        "unsupported"
    }
}

/// A clock fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum ClockFault {
    /// Shift `nodes` by `delta_ms`.
    Bump { nodes: Vec<NodeId>, delta_ms: i64 },
    /// Flip `nodes` between `delta_ms` and 0 every `period_ms` while the fault is held.
    Strobe {
        nodes: Vec<NodeId>,
        delta_ms: i64,
        period_ms: u64,
    },
    /// Every node gets a random offset within ±`bound_ms`.
    Scramble { bound_ms: i64 },
    /// Every node back to 0.
    Reset,
}

impl ClockFault {
    /// A random bump, strobe or scramble within ±`bound_ms`.
    pub fn random(n: usize, bound_ms: i64, rng: &mut SplitMix64) -> ClockFault {
        let bound = bound_ms.max(1) as u64;
        let mut delta = (1 + rng.below(bound)) as i64;
        if rng.chance(0.5) {
            delta = -delta;
        }
        let k = 1 + rng.below(n as u64) as usize;
        let mut nodes: Vec<NodeId> = (1..=n).collect();
        for i in (1..nodes.len()).rev() {
            nodes.swap(i, rng.below(i as u64 + 1) as usize);
        }
        nodes.truncate(k);
        nodes.sort();
        match rng.below(3) {
            0 => ClockFault::Bump {
                nodes,
                delta_ms: delta,
            },
            1 => ClockFault::Strobe {
                nodes,
                delta_ms: delta,
                period_ms: 200 + rng.below(800),
            },
            _ => ClockFault::Scramble { bound_ms },
        }
    }
}

/// Every node's current offset, changed only through a setter.
pub struct Clocks {
    setter: Box<dyn ClockSetter>,
    pub offsets: BTreeMap<NodeId, i64>,
    strobe_on: bool,
}

impl std::fmt::Debug for Clocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clocks")
            .field("setter", &self.setter.name())
            .field("offsets", &self.offsets)
            .finish()
    }
}

impl Clocks {
    pub fn new(nodes: usize, setter: Box<dyn ClockSetter>) -> Clocks {
        Clocks {
            setter,
            offsets: (1..=nodes).map(|n| (n, 0)).collect(),
            strobe_on: false,
        }
    }

    pub fn setter(&self) -> &dyn ClockSetter {
        self.setter.as_ref()
    }

    /// Applies a fault, returning every node's offset afterwards.
    pub fn apply(
        &mut self,
        fault: &ClockFault,
        rng: &mut SplitMix64,
    ) -> Result<BTreeMap<NodeId, i64>> {
        let mut target = self.offsets.clone();
        match fault {
            ClockFault::Bump { nodes, delta_ms } => {
                for n in nodes {
                    *target.entry(*n).or_insert(0) += delta_ms;
                }
            }
            ClockFault::Strobe {
                nodes, delta_ms, ..
            } => {
                for n in nodes {
                    target.insert(*n, *delta_ms);
                }
                self.strobe_on = true;
            }
            ClockFault::Scramble { bound_ms } => {
                let b = bound_ms.unsigned_abs().max(1);
                for v in target.values_mut() {
                    *v = rng.below(2 * b + 1) as i64 - b as i64;
                }
            }
            ClockFault::Reset => {
                for v in target.values_mut() {
                    *v = 0;
                }
            }
        }
        self.set_all(target)
    }

    /// One strobe flip: the strobed nodes go to 0 or back to `delta_ms`.
    pub fn strobe_flip(
        &mut self,
        nodes: &[NodeId],
        delta_ms: i64,
    ) -> Result<BTreeMap<NodeId, i64>> {
        self.strobe_on = !self.strobe_on;
        let mut target = self.offsets.clone();
        for n in nodes {
            target.insert(*n, if self.strobe_on { delta_ms } else { 0 });
        }
        self.set_all(target)
    }

    fn set_all(&mut self, target: BTreeMap<NodeId, i64>) -> Result<BTreeMap<NodeId, i64>> {
        for (&n, &off) in &target {
            if self.offsets.get(&n) != Some(&off) {
                self.setter.set_offset(n, off)?;
                self.offsets.insert(n, off);
            }
        }
        Ok(self.offsets.clone())
    }
}

/// A minimal HTTP/1.1 JSON POST (the control API is tiny; no client library needed).
pub fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line")
        })?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Default, Clone)]
    struct Recorder(Arc<Mutex<Vec<(NodeId, i64)>>>);
    impl ClockSetter for Recorder {
        fn set_offset(&self, node: NodeId, offset_ms: i64) -> Result<()> {
            self.0.lock().unwrap().push((node, offset_ms));
            Ok(())
        }
        fn name(&self) -> &'static str {
            "recorder"
        }
    }

    #[test]
    fn faketime_spec_is_signed_seconds_with_millis() {
        assert_eq!(faketime_spec(1500), "+1.500");
        assert_eq!(faketime_spec(-250), "-0.250");
        assert_eq!(faketime_spec(0), "+0.000");
    }

    #[test]
    fn bump_strobe_scramble_reset_set_exactly_the_offsets_they_report() {
        let rec = Recorder::default();
        let mut c = Clocks::new(3, Box::new(rec.clone()));
        let mut rng = SplitMix64::new(1);
        let o = c
            .apply(
                &ClockFault::Bump {
                    nodes: vec![2],
                    delta_ms: 500,
                },
                &mut rng,
            )
            .unwrap();
        assert_eq!(o, BTreeMap::from([(1, 0), (2, 500), (3, 0)]));
        let o = c.strobe_flip(&[2], 500).unwrap();
        assert_eq!(o[&2], 500, "first flip after a non-strobe goes on");
        let o = c.strobe_flip(&[2], 500).unwrap();
        assert_eq!(o[&2], 0);
        let o = c
            .apply(&ClockFault::Scramble { bound_ms: 100 }, &mut rng)
            .unwrap();
        assert!(o.values().all(|v| v.abs() <= 100));
        let o = c.apply(&ClockFault::Reset, &mut rng).unwrap();
        assert!(o.values().all(|v| *v == 0));
        // The setter saw every change, and the last value per node is 0.
        let calls = rec.0.lock().unwrap().clone();
        assert_eq!(calls.first(), Some(&(2, 500)));
        for n in 1..=3 {
            assert_eq!(
                calls
                    .iter()
                    .rev()
                    .find(|(m, _)| *m == n)
                    .map(|x| x.1)
                    .unwrap_or(0),
                0
            );
        }
    }

    #[test]
    fn unsupported_clock_refuses() {
        let c = UnsupportedClock::etcd();
        assert!(c.unsupported().unwrap().contains("Go"));
        assert!(matches!(c.set_offset(1, 5), Err(Error::Unsupported(_))));
    }
}
