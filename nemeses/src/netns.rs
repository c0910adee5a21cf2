//! Nodes as hosts, the root way: each node in its own network namespace with its own address
//! on a per-run subnet, joined by veth pairs to a bridge this run creates. Partitions are
//! iptables DROP rules in a chain of our own, jumped to first from INPUT and OUTPUT inside each
//! node's namespace; heal flushes only that chain. The host's rules are never touched.

use crate::error::{Error, Result};
use crate::grudge::{Grudge, NodeId};
use crate::state::{Resource, StateFile};
use crate::sys;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// The chain each namespace jumps to first; it holds only our DROP rules.
pub const CHAIN: &str = "faultline";

/// A run's namespaces, bridge and addresses.
#[derive(Debug)]
pub struct NetnsNet {
    /// Run-unique name prefix, e.g. `fl1a2b3c`.
    pub prefix: String,
    nodes: usize,
    port: u16,
    /// 10.x.y.0/24 as (x, y).
    subnet: (u8, u8),
    state: Arc<StateFile>,
    created: Vec<Resource>,
}

impl NetnsNet {
    /// Builds the namespaces, links and bridge for `nodes` nodes and proves connectivity with a
    /// TCP probe (node to node across the bridge, and host to node).
    pub fn setup(tag: u32, nodes: usize, port: u16, state: Arc<StateFile>) -> Result<NetnsNet> {
        if !sys::is_root() {
            return Err(Error::Unsupported(
                "network namespaces need root (use --net proxy without root)".into(),
            ));
        }
        for tool in ["ip", "iptables"] {
            if !sys::have(tool) {
                return Err(Error::Unsupported(format!(
                    "`{tool}` is not installed (Debian: apt-get install iproute2 iptables)"
                )));
            }
        }
        if nodes == 0 || nodes > 200 {
            return Err(Error::Invalid(format!(
                "{nodes} nodes: netns mode supports 1..=200"
            )));
        }
        let prefix = format!("fl{:06x}", tag & 0xff_ffff);
        let subnet = free_subnet(tag)?;
        let mut net = NetnsNet {
            prefix,
            nodes,
            port,
            subnet,
            state,
            created: Vec::new(),
        };
        if let Err(e) = net.build() {
            let _ = net.teardown();
            return Err(e);
        }
        if let Err(e) = net.probe() {
            let _ = net.teardown();
            return Err(e);
        }
        Ok(net)
    }

    fn record(&mut self, r: Resource) -> Result<()> {
        self.state.add(&r)?;
        self.created.push(r);
        Ok(())
    }

    pub fn bridge_name(&self) -> String {
        format!("{}br", self.prefix)
    }
    pub fn ns_name(&self, node: NodeId) -> String {
        format!("{}n{node}", self.prefix)
    }
    fn host_veth(&self, node: NodeId) -> String {
        format!("{}h{node}", self.prefix)
    }
    fn ns_veth(&self, node: NodeId) -> String {
        format!("{}p{node}", self.prefix)
    }
    /// Node `node`'s address.
    pub fn ip(&self, node: NodeId) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet.0, self.subnet.1, node as u8)
    }
    /// The host's address on the bridge (where clients come from).
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet.0, self.subnet.1, 254)
    }
    pub fn nodes(&self) -> usize {
        self.nodes
    }
    pub fn addr(&self, node: NodeId) -> SocketAddr {
        SocketAddr::new(self.ip(node).into(), self.port)
    }

    fn build(&mut self) -> Result<()> {
        let br = self.bridge_name();
        self.record(Resource::Bridge { name: br.clone() })?;
        sys::run("ip", &["link", "add", &br, "type", "bridge"])?;
        let cidr = format!("{}/24", self.host_ip());
        sys::run("ip", &["addr", "add", &cidr, "dev", &br])?;
        sys::run("ip", &["link", "set", &br, "up"])?;
        for node in 1..=self.nodes {
            let ns = self.ns_name(node);
            self.record(Resource::Netns { name: ns.clone() })?;
            sys::run("ip", &["netns", "add", &ns])?;
            sys::run_in(&ns, "ip", &["link", "set", "lo", "up"])?;
            let (h, p) = (self.host_veth(node), self.ns_veth(node));
            self.record(Resource::Link { name: h.clone() })?;
            sys::run(
                "ip",
                &[
                    "link", "add", &h, "type", "veth", "peer", "name", &p, "netns", &ns,
                ],
            )?;
            sys::run("ip", &["link", "set", &h, "master", &br])?;
            sys::run("ip", &["link", "set", &h, "up"])?;
            let cidr = format!("{}/24", self.ip(node));
            sys::run_in(&ns, "ip", &["addr", "add", &cidr, "dev", &p])?;
            sys::run_in(&ns, "ip", &["link", "set", &p, "up"])?;
            self.record(Resource::Chain {
                netns: ns.clone(),
                chain: CHAIN.into(),
            })?;
            sys::run_in(&ns, "iptables", &["-N", CHAIN])?;
            sys::run_in(&ns, "iptables", &["-I", "INPUT", "1", "-j", CHAIN])?;
            sys::run_in(&ns, "iptables", &["-I", "OUTPUT", "1", "-j", CHAIN])?;
        }
        tracing::info!(prefix = %self.prefix, subnet = %format!("10.{}.{}.0/24", self.subnet.0, self.subnet.1), nodes = self.nodes, "namespaces up");
        Ok(())
    }

    /// Proves that each node accepts TCP from its ring neighbour (bridged traffic) and from the
    /// host; explains a DROP policy on the host's FORWARD chain when bridged traffic dies.
    fn probe(&self) -> Result<()> {
        for node in 1..=self.nodes {
            let from = node % self.nodes + 1;
            let target = SocketAddr::new(self.ip(node).into(), 0);
            let listener =
                sys::in_netns(&self.ns_name(node), move || TcpListener::bind(target))?
                    .map_err(|e| Error::Connectivity(format!("bind probe on {target}: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| Error::Connectivity(e.to_string()))?;
            let bridged = sys::in_netns(&self.ns_name(from), move || {
                TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            })?;
            if let Err(e) = bridged {
                let hint = if forward_drops_bridged() {
                    " The host's FORWARD chain policy is DROP and br_netfilter is on \
                     (net.bridge.bridge-nf-call-iptables=1), so bridged traffic between the \
                     namespaces is dropped by the host firewall. faultline does not change host \
                     rules: allow forwarding on bridge `fl*br` yourself, or use --net proxy."
                } else {
                    ""
                };
                return Err(Error::Connectivity(format!(
                    "node {from} cannot open a TCP connection to node {node} at {addr}: {e}.{hint}"
                )));
            }
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| {
                Error::Connectivity(format!(
                    "the host cannot open a TCP connection to node {node} at {addr}: {e}"
                ))
            })?;
        }
        Ok(())
    }

    /// Installs `grudge` (replacing any current partition): node `a` drops packets from each
    /// node in `drops[a]`, at INPUT; when `b` also drops from `a` the cut is symmetric.
    pub fn partition(&self, grudge: &Grudge) -> Result<()> {
        self.heal()?;
        for (&a, froms) in &grudge.drops {
            if a == 0 || a > self.nodes {
                return Err(Error::Invalid(format!(
                    "partition names node {a}, not in 1..={}",
                    self.nodes
                )));
            }
            let ns = self.ns_name(a);
            for &b in froms {
                let src = self.ip(b).to_string();
                sys::run_in(&ns, "iptables", &["-A", CHAIN, "-s", &src, "-j", "DROP"])?;
            }
        }
        Ok(())
    }

    /// Removes every partition rule (flushes our chain, nothing else).
    pub fn heal(&self) -> Result<()> {
        let mut first_err = None;
        for node in 1..=self.nodes {
            if let Err(e) = sys::run_in(&self.ns_name(node), "iptables", &["-F", CHAIN]) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Whether the kernel has `netem` (probed on node 1's loopback).
    pub fn netem_available(&self) -> bool {
        let ns = self.ns_name(1);
        let ok = sys::run_in(
            &ns,
            "tc",
            &["qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
        )
        .is_ok();
        if ok {
            let _ = sys::run_in(&ns, "tc", &["qdisc", "del", "dev", "lo", "root"]);
        }
        ok
    }

    /// Wraps `cmd` so it runs in node `node`'s namespace (`ip netns exec NS program args`).
    pub fn wrap(&self, node: NodeId, cmd: &std::process::Command) -> std::process::Command {
        let mut w = std::process::Command::new("ip");
        w.args(["netns", "exec", &self.ns_name(node)]);
        w.arg(cmd.get_program());
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

    /// Removes everything this net created, newest first; records each removal.
    pub fn teardown(&mut self) -> Result<()> {
        let mut first_err = None;
        let mut todo = std::mem::take(&mut self.created);
        // Chains before links before namespaces before the bridge.
        todo.reverse();
        todo.sort_by_key(|r| match r {
            Resource::Chain { .. } => 0,
            Resource::Link { .. } => 1,
            Resource::Netns { .. } => 2,
            _ => 3,
        });
        for r in todo {
            match crate::state::remove_resource(&r) {
                crate::state::Outcome::Failed(e) => {
                    first_err.get_or_insert(Error::Invalid(format!("removing {r}: {e}")));
                }
                _ => self.state.remove(&r)?,
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for NetnsNet {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(%e, "tearing down namespaces");
        }
    }
}

/// True when br_netfilter sends bridged packets through the host's FORWARD chain and its
/// policy is DROP.
pub fn forward_drops_bridged() -> bool {
    let nf =
        std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables").unwrap_or_default();
    let rules = sys::run("iptables", &["-S", "FORWARD"]).unwrap_or_default();
    drops_bridged(&nf, &rules)
}

/// The decision of [`forward_drops_bridged`] from the sysctl's text and `iptables -S FORWARD`.
pub fn drops_bridged(bridge_nf_call_iptables: &str, forward_rules: &str) -> bool {
    bridge_nf_call_iptables.trim() == "1"
        && forward_rules.lines().any(|l| l.trim() == "-P FORWARD DROP")
}

/// Picks 10.x.y.0/24 from the run tag, moving on while any address or route on the host
/// already uses it.
fn free_subnet(tag: u32) -> Result<(u8, u8)> {
    let used = format!(
        "{}\n{}",
        sys::run("ip", &["-o", "-4", "addr"]).unwrap_or_default(),
        sys::run("ip", &["-4", "route"]).unwrap_or_default()
    );
    let start = (tag >> 8) & 0xffff;
    for k in 0..4096u32 {
        let v = (start + k * 7919) & 0xffff;
        let (x, y) = (100 + (v >> 8) as u8 % 100, (v & 0xff) as u8);
        let prefix = format!(" 10.{x}.{y}.");
        if !used.contains(&prefix) && !used.contains(&format!("\n10.{x}.{y}.")) {
            return Ok((x, y));
        }
    }
    Err(Error::Unsupported(
        "no free 10.x.y.0/24 subnet found".into(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bridged_traffic_dies_only_with_br_netfilter_and_a_drop_policy() {
        let docker = "-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n";
        assert!(super::drops_bridged("1\n", docker));
        assert!(!super::drops_bridged("0\n", docker));
        assert!(!super::drops_bridged("", docker), "no br_netfilter module");
        assert!(!super::drops_bridged("1\n", "-P FORWARD ACCEPT\n"));
    }
}
