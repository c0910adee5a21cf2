//! Nodes as hosts: the address map the runner uses, whichever way the nodes are connected
//! (namespaces when root, the link proxy otherwise or when forced).

use crate::error::{Error, Result};
use crate::grudge::{Grudge, NodeId};
use crate::netns::NetnsNet;
use crate::proxy::{LinkFaults, ProxyNet, CLIENT};
use crate::state::StateFile;
use crate::sys;
use serde::Serialize;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

/// `--net auto|netns|proxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// Namespaces when root, the proxy otherwise.
    Auto,
    Netns,
    Proxy,
}

impl std::str::FromStr for NetMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<NetMode> {
        match s {
            "auto" => Ok(NetMode::Auto),
            "netns" => Ok(NetMode::Netns),
            "proxy" => Ok(NetMode::Proxy),
            other => Err(Error::Invalid(format!(
                "unknown --net `{other}` (auto, netns or proxy)"
            ))),
        }
    }
}

/// How to build a run's network.
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub nodes: usize,
    /// The port every node listens on (each node has its own address).
    pub port: u16,
    pub mode: NetMode,
    /// Run-unique tag: names and subnets derive from it (see [`run_tag`]).
    pub tag: u32,
    /// Seeds the proxy's jitter and loss.
    pub seed: u64,
}

/// A run-unique 24-bit tag from the run directory, this process and the time.
pub fn run_tag(run_dir: &std::path::Path) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    run_dir.hash(&mut h);
    std::process::id().hash(&mut h);
    std::time::SystemTime::now().hash(&mut h);
    (h.finish() & 0xff_ffff) as u32
}

/// A run's network.
#[derive(Debug)]
pub enum Net {
    Netns(NetnsNet),
    Proxy(ProxyNet),
}

impl Net {
    /// Builds the network (recording every resource in `state`) and checks it carries traffic.
    pub fn setup(cfg: &NetConfig, state: Arc<StateFile>) -> Result<Net> {
        let mode = match cfg.mode {
            NetMode::Auto if sys::is_root() => NetMode::Netns,
            NetMode::Auto => NetMode::Proxy,
            m => m,
        };
        Ok(match mode {
            NetMode::Netns => Net::Netns(NetnsNet::setup(cfg.tag, cfg.nodes, cfg.port, state)?),
            _ => Net::Proxy(ProxyNet::setup(
                cfg.tag, cfg.nodes, cfg.port, cfg.seed, state,
            )?),
        })
    }

    /// `netns` or `proxy`.
    pub fn mode(&self) -> NetMode {
        match self {
            Net::Netns(_) => NetMode::Netns,
            Net::Proxy(_) => NetMode::Proxy,
        }
    }

    pub fn nodes(&self) -> usize {
        match self {
            Net::Netns(n) => n.nodes(),
            Net::Proxy(p) => p.nodes(),
        }
    }

    /// Where node `node` listens (its `--listen`).
    pub fn listen_addr(&self, node: NodeId) -> SocketAddr {
        match self {
            Net::Netns(n) => n.addr(node),
            Net::Proxy(p) => p.addr(node),
        }
    }

    /// The address node `from` uses to reach node `to` (its `--peers` entry for `to`).
    pub fn peer_addr(&self, from: NodeId, to: NodeId) -> SocketAddr {
        match self {
            Net::Netns(n) => n.addr(to),
            Net::Proxy(p) if from == to => p.addr(to),
            Net::Proxy(p) => p.link_addr(from, to),
        }
    }

    /// The address clients (the harness) use to reach node `node`.
    pub fn client_addr(&self, node: NodeId) -> SocketAddr {
        match self {
            Net::Netns(n) => n.addr(node),
            Net::Proxy(p) => p.link_addr(CLIENT, node),
        }
    }

    /// `cmd` made to run on node `node`'s host (`ip netns exec` in netns mode; as is with the
    /// proxy, where the node simply listens on its own loopback address).
    pub fn wrap(&self, node: NodeId, cmd: &Command) -> Command {
        match self {
            Net::Netns(n) => n.wrap(node, cmd),
            Net::Proxy(_) => {
                let mut w = Command::new(cmd.get_program());
                w.args(cmd.get_args());
                for (k, v) in cmd.get_envs() {
                    match v {
                        Some(v) => w.env(k, v),
                        None => w.env_remove(k),
                    };
                }
                if let Some(d) = cmd.get_current_dir() {
                    w.current_dir(d);
                }
                w
            }
        }
    }

    /// The command prefix that runs a program on node `node`'s host (`ip netns exec NS`), empty
    /// with the proxy.
    pub fn host_prefix(&self, node: NodeId) -> Vec<String> {
        match self {
            Net::Netns(n) => vec!["ip".into(), "netns".into(), "exec".into(), n.ns_name(node)],
            Net::Proxy(_) => Vec::new(),
        }
    }

    /// Installs a partition (replacing the current one).
    pub fn partition(&self, grudge: &Grudge) -> Result<()> {
        match self {
            Net::Netns(n) => n.partition(grudge),
            Net::Proxy(p) => p.partition(grudge),
        }
    }

    /// Removes every partition.
    pub fn heal(&self) -> Result<()> {
        match self {
            Net::Netns(n) => n.heal(),
            Net::Proxy(p) => {
                p.heal();
                Ok(())
            }
        }
    }

    /// Whether this network can add latency and loss (netem in netns mode, always with the
    /// proxy); the reason when it cannot.
    pub fn latency_support(&self) -> std::result::Result<(), String> {
        match self {
            Net::Proxy(_) => Ok(()),
            Net::Netns(n) if n.netem_available() => Ok(()),
            Net::Netns(_) => Err(
                "tc netem is missing from this kernel (\"Specified qdisc kind is unknown\"): \
                 latency and loss need --net proxy on this machine"
                    .into(),
            ),
        }
    }

    /// Adds delay, jitter and loss to the links of `nodes`.
    pub fn set_link_faults(&self, nodes: &[NodeId], f: LinkFaults) -> Result<()> {
        match self {
            Net::Proxy(p) => {
                p.set_faults(nodes, f);
                Ok(())
            }
            Net::Netns(n) => {
                let delay = format!("{}ms", f.delay_ms);
                let jitter = format!("{}ms", f.jitter_ms);
                let loss = format!("{}%", f.loss * 100.0);
                for &node in nodes {
                    sys::run_in(
                        &n.ns_name(node),
                        "tc",
                        &[
                            "qdisc",
                            "replace",
                            "dev",
                            &format!("{}p{node}", n.prefix),
                            "root",
                            "netem",
                            "delay",
                            &delay,
                            &jitter,
                            "loss",
                            &loss,
                        ],
                    )?;
                }
                Ok(())
            }
        }
    }

    /// Removes delay, jitter and loss everywhere.
    pub fn clear_link_faults(&self) -> Result<()> {
        match self {
            Net::Proxy(p) => {
                p.clear_faults();
                Ok(())
            }
            Net::Netns(n) => {
                for node in 1..=n.nodes() {
                    let _ = sys::run_in(
                        &n.ns_name(node),
                        "tc",
                        &[
                            "qdisc",
                            "del",
                            "dev",
                            &format!("{}p{node}", n.prefix),
                            "root",
                        ],
                    );
                }
                Ok(())
            }
        }
    }

    /// Removes everything (also done on drop).
    pub fn teardown(&mut self) -> Result<()> {
        match self {
            Net::Netns(n) => n.teardown(),
            Net::Proxy(p) => {
                p.shutdown();
                Ok(())
            }
        }
    }
}
