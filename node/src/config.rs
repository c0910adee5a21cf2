//! A replica's validated configuration: its id, mode, listen address, peers and data directory.

use crate::error::NodeError;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The replication algorithm a replica runs (the same for every replica of a cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Strong,
    Causal,
    Session,
    Eventual,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Strong => "strong",
            Mode::Causal => "causal",
            Mode::Session => "session",
            Mode::Eventual => "eventual",
        }
    }

    /// Whether the mode has a fixed primary.
    pub fn has_primary(self) -> bool {
        matches!(self, Mode::Strong | Mode::Session)
    }
}

impl std::str::FromStr for Mode {
    type Err = NodeError;
    fn from_str(s: &str) -> Result<Self, NodeError> {
        match s {
            "strong" => Ok(Mode::Strong),
            "causal" => Ok(Mode::Causal),
            "session" => Ok(Mode::Session),
            "eventual" => Ok(Mode::Eventual),
            other => Err(NodeError::Config(format!(
                "unknown mode `{other}` (expected strong, causal, session or eventual)"
            ))),
        }
    }
}

/// Timeouts of peer traffic and waits; the defaults suit loopback and namespaces.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// One peer RPC.
    pub peer_rpc: Duration,
    /// A strong-mode replication or read-confirmation round.
    pub majority_round: Duration,
    /// Forwarding a client request to the primary.
    pub forward: Duration,
    /// How long a replica waits to catch up with a session token before answering 503.
    pub session_wait: Duration,
    /// Period of background replication / anti-entropy rounds.
    pub sync_interval: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            peer_rpc: Duration::from_millis(800),
            majority_round: Duration::from_millis(1000),
            forward: Duration::from_millis(3000),
            session_wait: Duration::from_millis(1000),
            sync_interval: Duration::from_millis(100),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: String,
    pub mode: Mode,
    pub listen: SocketAddr,
    /// Every replica by id (itself included) with the address its peer traffic goes to.
    pub peers: BTreeMap<String, SocketAddr>,
    pub data_dir: PathBuf,
    /// The fixed primary of `strong` and `session` modes.
    pub primary: String,
    pub timeouts: Timeouts,
}

impl NodeConfig {
    /// Validates a configuration. `peers` is `id=host:port,...`; `primary` defaults to the
    /// lowest id (numerically when all ids are numbers).
    pub fn new(
        id: &str,
        mode: Mode,
        listen: SocketAddr,
        peers: &str,
        data_dir: PathBuf,
        primary: Option<&str>,
    ) -> Result<Self, NodeError> {
        let peers = parse_peers(peers)?;
        if !peers.contains_key(id) {
            return Err(NodeError::Config(format!(
                "--peers must list this replica's own id `{id}`"
            )));
        }
        let primary = match primary {
            Some(p) => p.to_string(),
            None => lowest_id(&peers),
        };
        if !peers.contains_key(&primary) {
            return Err(NodeError::Config(format!(
                "primary `{primary}` is not among the peers"
            )));
        }
        Ok(NodeConfig {
            id: id.to_string(),
            mode,
            listen,
            peers,
            data_dir,
            primary,
            timeouts: Timeouts::default(),
        })
    }

    /// The other replicas.
    pub fn others(&self) -> impl Iterator<Item = (&String, &SocketAddr)> {
        self.peers.iter().filter(move |(id, _)| **id != self.id)
    }

    /// Replicas (self included) needed for a majority.
    pub fn majority(&self) -> usize {
        self.peers.len() / 2 + 1
    }

    pub fn is_primary(&self) -> bool {
        self.id == self.primary
    }
}

fn lowest_id(peers: &BTreeMap<String, SocketAddr>) -> String {
    let numeric: Option<Vec<(u64, &String)>> = peers
        .keys()
        .map(|k| k.parse::<u64>().ok().map(|n| (n, k)))
        .collect();
    match numeric {
        Some(mut v) => {
            v.sort();
            v[0].1.clone()
        }
        None => peers.keys().next().cloned().unwrap_or_default(),
    }
}

/// Parses `1=127.0.0.11:7001,2=127.0.0.12:7001`.
pub fn parse_peers(s: &str) -> Result<BTreeMap<String, SocketAddr>, NodeError> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part.split_once('=').ok_or_else(|| {
            NodeError::Config(format!("peer `{part}` is not of the form id=host:port"))
        })?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| NodeError::Config(format!("peer `{part}`: bad address `{addr}`: {e}")))?;
        if id.is_empty() {
            return Err(NodeError::Config(format!("peer `{part}` has an empty id")));
        }
        if out.insert(id.to_string(), addr).is_some() {
            return Err(NodeError::Config(format!("peer id `{id}` listed twice")));
        }
    }
    if out.is_empty() {
        return Err(NodeError::Config("--peers is empty".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_primary_defaults_to_lowest_id() {
        let c = NodeConfig::new(
            "2",
            Mode::Strong,
            "127.0.0.1:1".parse().unwrap(),
            "10=127.0.0.1:3, 2=127.0.0.1:2,9=127.0.0.1:4",
            PathBuf::from("/tmp"),
            None,
        )
        .unwrap();
        assert_eq!(c.primary, "2");
        assert_eq!(c.majority(), 2);
        assert_eq!(c.others().count(), 2);
    }

    #[test]
    fn bad_peers_are_clear_errors() {
        assert!(parse_peers("1:127.0.0.1:1")
            .unwrap_err()
            .to_string()
            .contains("id=host:port"));
        assert!(parse_peers("1=nothost")
            .unwrap_err()
            .to_string()
            .contains("bad address"));
        assert!(parse_peers("1=127.0.0.1:1,1=127.0.0.1:2")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let e = NodeConfig::new(
            "4",
            Mode::Causal,
            "127.0.0.1:1".parse().unwrap(),
            "1=127.0.0.1:1",
            PathBuf::from("/tmp"),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("own id"));
    }
}
