//! Clusters the runner starts and stops: N `faultline node` replicas or N etcd members, each a
//! child process with its own data directory and log in the run directory, or an external etcd
//! cluster given by endpoints. Behind the [`Cluster`] trait so that nemeses can kill, restart
//! and pause nodes (and later run them inside network namespaces) without knowing which store
//! it is. Every exit path stops the nodes: [`Cluster::stop`], `Drop`, and the kernel's parent-
//! death signal if the harness itself is killed.

use super::faults::NodePlan;
use super::process::{free_ports, http_get, NodeProcess};
use anyhow::{bail, Context};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the runner and nemeses know about one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    /// Name used in the history's `node` field ("1", "2", ... / "n1", ...).
    pub name: String,
    /// Address clients use: `host:port` for the built-in store, a URL for etcd.
    pub client: String,
    pub pid: Option<u32>,
    pub data_dir: Option<PathBuf>,
    pub log: Option<PathBuf>,
}

/// A running set of nodes. Nemeses signal nodes by the pids in [`NodeInfo`] and ask the
/// cluster to restart a killed one.
pub trait Cluster: Send {
    fn nodes(&mut self) -> Vec<NodeInfo>;
    /// Start node `i` (0-based) again with the same arguments and data directory; waits until
    /// healthy.
    fn restart(&mut self, i: usize) -> anyhow::Result<()>;
    /// Stops every node (SIGTERM, then SIGKILL) and reaps them. Idempotent.
    fn stop(&mut self);
}

/// Nodes that are our child processes, with a health URL each.
pub struct LocalCluster {
    kind: &'static str,
    names: Vec<String>,
    clients: Vec<String>,
    health: Vec<String>,
    data_dirs: Vec<PathBuf>,
    procs: Vec<NodeProcess>,
}

const START_TIMEOUT: Duration = Duration::from_secs(20);

impl LocalCluster {
    /// `n` built-in replicas in `mode` on 127.0.0.(10+i), data and logs under `dir`.
    /// With a `plan` (nemeses' hosts) each node gets its addresses and command prefix from it.
    pub fn builtin(
        exe: &Path,
        n: usize,
        mode: &str,
        dir: &Path,
        plan: Option<Vec<NodePlan>>,
    ) -> anyhow::Result<LocalCluster> {
        let mut addrs = Vec::new();
        for i in 1..=n {
            let ip = format!("127.0.0.{}", 10 + i);
            let port = free_ports(&ip, 1)?[0];
            addrs.push(format!("{ip}:{port}"));
        }
        let peers: Vec<String> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect();
        let plan = plan.unwrap_or_else(|| {
            addrs
                .iter()
                .map(|a| NodePlan {
                    listen: a.clone(),
                    peers: peers.clone(),
                    client: a.clone(),
                    peer_url: String::new(),
                    prefix: Vec::new(),
                })
                .collect()
        });
        let mut c = LocalCluster::empty("builtin")?;
        for (i, p) in plan.iter().enumerate() {
            let (addr, client) = (&p.listen, &p.client);
            let id = (i + 1).to_string();
            let data = dir.join(format!("node-{id}"));
            std::fs::create_dir_all(&data)?;
            let args = vec![
                "node".to_string(),
                "--id".into(),
                id.clone(),
                "--mode".into(),
                mode.to_string(),
                "--listen".into(),
                addr.clone(),
                "--peers".into(),
                p.peers.join(","),
                "--data-dir".into(),
                data.display().to_string(),
            ];
            c.names.push(id.clone());
            c.clients.push(client.clone());
            c.health.push(format!("http://{client}/control/health"));
            c.data_dirs.push(data);
            let mut proc =
                NodeProcess::new(exe.to_path_buf(), args, dir.join(format!("node-{id}.log")));
            proc.prefix = p.prefix.clone();
            c.procs.push(proc);
        }
        c.start_all()?;
        Ok(c)
    }

    /// `n` etcd members on 127.0.0.(20+i), data and logs under `dir`.
    /// With a `plan` (nemeses' namespaces) each member gets its URLs and prefix from it.
    pub fn etcd(
        etcd: &Path,
        n: usize,
        dir: &Path,
        token: &str,
        plan: Option<Vec<NodePlan>>,
    ) -> anyhow::Result<LocalCluster> {
        let mut members = Vec::new();
        let mut prefixes = Vec::new();
        for i in 1..=n {
            if let Some(p) = plan.as_ref().and_then(|p| p.get(i - 1)) {
                members.push((format!("n{i}"), p.client.clone(), p.peer_url.clone()));
                prefixes.push(p.prefix.clone());
                continue;
            }
            let ip = format!("127.0.0.{}", 20 + i);
            let ports = free_ports(&ip, 2)?;
            let (cp, pp) = (ports[0], ports[1]);
            members.push((
                format!("n{i}"),
                format!("http://{ip}:{cp}"),
                format!("http://{ip}:{pp}"),
            ));
            prefixes.push(Vec::new());
        }
        let initial: Vec<String> = members
            .iter()
            .map(|(name, _, peer)| format!("{name}={peer}"))
            .collect();
        let mut c = LocalCluster::empty("etcd")?;
        for ((name, client, peer), prefix) in members.iter().zip(prefixes) {
            let data = dir.join(format!("{name}.etcd"));
            let args = vec![
                "--name".to_string(),
                name.clone(),
                "--data-dir".into(),
                data.display().to_string(),
                "--listen-client-urls".into(),
                client.clone(),
                "--advertise-client-urls".into(),
                client.clone(),
                "--listen-peer-urls".into(),
                peer.clone(),
                "--initial-advertise-peer-urls".into(),
                peer.clone(),
                "--initial-cluster".into(),
                initial.join(","),
                "--initial-cluster-state".into(),
                "new".into(),
                "--initial-cluster-token".into(),
                token.to_string(),
            ];
            c.names.push(name.clone());
            c.clients.push(client.clone());
            c.health.push(format!("{client}/health"));
            c.data_dirs.push(data);
            let mut proc =
                NodeProcess::new(etcd.to_path_buf(), args, dir.join(format!("{name}.log")));
            proc.prefix = prefix;
            c.procs.push(proc);
        }
        c.start_all()?;
        Ok(c)
    }

    fn empty(kind: &'static str) -> anyhow::Result<LocalCluster> {
        Ok(LocalCluster {
            kind,
            names: Vec::new(),
            clients: Vec::new(),
            health: Vec::new(),
            data_dirs: Vec::new(),
            procs: Vec::new(),
        })
    }

    fn start_all(&mut self) -> anyhow::Result<()> {
        for p in &mut self.procs {
            p.start()?;
        }
        for i in 0..self.procs.len() {
            self.wait_healthy(i)?;
        }
        Ok(())
    }

    fn wait_healthy(&mut self, i: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last: String;
        loop {
            if let Some(status) = self.procs[i].exited() {
                bail!(
                    "{} node {} exited during startup ({status}); its log {} ends with:\n{}",
                    self.kind,
                    self.names[i],
                    self.procs[i].log.display(),
                    self.procs[i].log_tail()
                );
            }
            match http_get(&self.health[i], Duration::from_secs(2)) {
                Ok((200, body)) => {
                    // etcd answers 200 {"health":"false"} while it has no leader.
                    if !body.contains("\"false\"") {
                        return Ok(());
                    }
                    last = body;
                }
                Ok((status, body)) => last = format!("HTTP {status}: {body}"),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} node {} did not become healthy within {:?} ({} answered: {last}); its log {} ends with:\n{}",
                    self.kind,
                    self.names[i],
                    START_TIMEOUT,
                    self.health[i],
                    self.procs[i].log.display(),
                    self.procs[i].log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn check_index(&self, i: usize) -> anyhow::Result<()> {
        if i >= self.procs.len() {
            bail!("no node {i}: the cluster has {} nodes", self.procs.len());
        }
        Ok(())
    }
}

impl Cluster for LocalCluster {
    fn nodes(&mut self) -> Vec<NodeInfo> {
        (0..self.procs.len())
            .map(|i| NodeInfo {
                name: self.names[i].clone(),
                client: self.clients[i].clone(),
                pid: if self.procs[i].running() {
                    self.procs[i].pid()
                } else {
                    None
                },
                data_dir: Some(self.data_dirs[i].clone()),
                log: Some(self.procs[i].log.clone()),
            })
            .collect()
    }
    fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.check_index(i)?;
        self.procs[i].kill();
        self.procs[i].start()?;
        self.wait_healthy(i)
            .with_context(|| format!("restarting node {}", self.names[i]))
    }
    fn stop(&mut self) {
        for p in &mut self.procs {
            // A paused node ignores SIGTERM until resumed.
            p.resume();
            p.stop(Duration::from_secs(5));
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An etcd cluster someone else runs (`--etcd-endpoints`): nothing to start or stop.
pub struct ExternalCluster {
    pub endpoints: Vec<String>,
}

impl Cluster for ExternalCluster {
    fn nodes(&mut self) -> Vec<NodeInfo> {
        self.endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| NodeInfo {
                name: format!("n{}", i + 1),
                client: e.clone(),
                pid: None,
                data_dir: None,
                log: None,
            })
            .collect()
    }
    fn restart(&mut self, _i: usize) -> anyhow::Result<()> {
        bail!("cannot restart a node of an external cluster")
    }
    fn stop(&mut self) {}
}
