//! Nodes as hosts without root: nodes listen on their own 127.x.y.N address, and every
//! directed link (node to node, client to node) goes through a userspace TCP proxy that can
//! blackhole each direction (connections stay open, bytes vanish), delay with jitter, and
//! lose packets. A TCP proxy cannot drop bytes without corrupting the stream, so "loss" is
//! modelled as what TCP makes of a lost segment: a retransmission stall (`LOSS_STALL`) before
//! the chunk is delivered. A connection that lost bytes to a blackhole is closed once the link
//! heals (its stream has a gap), as a peer would see after a long partition.

use crate::error::{Error, Result};
use crate::grudge::{Grudge, NodeId};
use crate::state::{Resource, StateFile};
use history::sim::SplitMix64;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The stall a "lost" chunk suffers (the Linux minimum retransmission timeout).
pub const LOSS_STALL: Duration = Duration::from_millis(200);

/// The client side of client links.
pub const CLIENT: NodeId = 0;

/// Delay, jitter and loss applied to a link's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LinkFaults {
    pub delay_ms: u64,
    pub jitter_ms: u64,
    /// Probability in [0, 1] that a chunk suffers a retransmission stall.
    pub loss: f64,
}

#[derive(Debug)]
struct Link {
    /// Bytes from the connecting side to the listening side vanish.
    hole_fwd: AtomicBool,
    /// Bytes from the listening side back to the connecting side vanish.
    hole_back: AtomicBool,
    delay_ms: AtomicU64,
    jitter_ms: AtomicU64,
    /// Loss probability in parts per million.
    loss_ppm: AtomicU64,
    rng: Mutex<SplitMix64>,
}

impl Link {
    fn new(seed: u64) -> Link {
        Link {
            hole_fwd: AtomicBool::new(false),
            hole_back: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            jitter_ms: AtomicU64::new(0),
            loss_ppm: AtomicU64::new(0),
            rng: Mutex::new(SplitMix64::new(seed)),
        }
    }

    /// How long to hold a chunk before forwarding it.
    fn hold(&self) -> Duration {
        let (d, j, l) = (
            self.delay_ms.load(Ordering::Relaxed),
            self.jitter_ms.load(Ordering::Relaxed),
            self.loss_ppm.load(Ordering::Relaxed),
        );
        if d == 0 && j == 0 && l == 0 {
            return Duration::ZERO;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut ms = d;
        if j > 0 {
            ms += rng.below(j + 1);
        }
        let mut t = Duration::from_millis(ms);
        if l > 0 && rng.below(1_000_000) < l {
            t += LOSS_STALL;
        }
        t
    }
}

/// The proxy network of one run.
#[derive(Debug)]
pub struct ProxyNet {
    nodes: usize,
    port: u16,
    /// 127.x.y.0/24 as (x, y).
    subnet: (u8, u8),
    /// (from, to) -> (proxy listen address, controls); from = [`CLIENT`] for client links.
    links: BTreeMap<(NodeId, NodeId), (SocketAddr, Arc<Link>)>,
    runtime: Option<tokio::runtime::Runtime>,
    state: Arc<StateFile>,
    recorded: Vec<Resource>,
}

impl ProxyNet {
    /// Starts one proxy per directed link. Node `i` must listen on [`ProxyNet::addr`]`(i)`.
    pub fn setup(
        tag: u32,
        nodes: usize,
        port: u16,
        seed: u64,
        state: Arc<StateFile>,
    ) -> Result<ProxyNet> {
        if nodes == 0 || nodes > 200 {
            return Err(Error::Invalid(format!(
                "{nodes} nodes: proxy mode supports 1..=200"
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("faultline-proxy")
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let subnet = (1 + (tag >> 16) as u8 % 250, (tag >> 8) as u8);
        let mut net = ProxyNet {
            nodes,
            port,
            subnet,
            links: BTreeMap::new(),
            runtime: None,
            state: state.clone(),
            recorded: Vec::new(),
        };
        let proxy_ip = Ipv4Addr::new(127, subnet.0, subnet.1, 250);
        let mut k = 0u64;
        for from in 0..=nodes {
            for to in 1..=nodes {
                if from == to {
                    continue;
                }
                k += 1;
                let link = Arc::new(Link::new(seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
                let target = net.addr(to);
                let listener = runtime
                    .block_on(tokio::net::TcpListener::bind(SocketAddr::new(
                        proxy_ip.into(),
                        0,
                    )))
                    .map_err(|e| Error::io(format!("proxy listen on {proxy_ip}"), e))?;
                let listen = listener
                    .local_addr()
                    .map_err(|e| Error::io("proxy local_addr", e))?;
                let r = Resource::Proxy {
                    listen: format!("{listen} -> {target} (link {from}->{to})"),
                };
                state.add(&r)?;
                net.recorded.push(r);
                runtime.spawn(accept_loop(listener, target, link.clone()));
                net.links.insert((from, to), (listen, link));
            }
        }
        net.runtime = Some(runtime);
        Ok(net)
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Where node `node` listens.
    pub fn addr(&self, node: NodeId) -> SocketAddr {
        SocketAddr::new(
            Ipv4Addr::new(127, self.subnet.0, self.subnet.1, node as u8).into(),
            self.port,
        )
    }

    /// The proxy address `from` (a node, or [`CLIENT`]) uses to reach `to`.
    pub fn link_addr(&self, from: NodeId, to: NodeId) -> SocketAddr {
        match self.links.get(&(from, to)) {
            Some((a, _)) => *a,
            None => self.addr(to),
        }
    }

    /// Installs `grudge` (replacing any partition): `a` dropping `b`'s packets blackholes the
    /// requests on connections b opens to a and the replies on connections a opens to b.
    pub fn partition(&self, grudge: &Grudge) -> Result<()> {
        self.heal();
        for (&a, froms) in &grudge.drops {
            for &b in froms {
                if let Some((_, l)) = self.links.get(&(b, a)) {
                    l.hole_fwd.store(true, Ordering::SeqCst);
                }
                if let Some((_, l)) = self.links.get(&(a, b)) {
                    l.hole_back.store(true, Ordering::SeqCst);
                }
            }
        }
        Ok(())
    }

    /// Lifts every blackhole.
    pub fn heal(&self) {
        for (_, l) in self.links.values() {
            l.hole_fwd.store(false, Ordering::SeqCst);
            l.hole_back.store(false, Ordering::SeqCst);
        }
    }

    /// Applies delay/jitter/loss to every link touching one of `nodes` (client links too).
    pub fn set_faults(&self, nodes: &[NodeId], f: LinkFaults) {
        for (&(from, to), (_, l)) in &self.links {
            if nodes.contains(&from) || nodes.contains(&to) {
                l.delay_ms.store(f.delay_ms, Ordering::SeqCst);
                l.jitter_ms.store(f.jitter_ms, Ordering::SeqCst);
                l.loss_ppm
                    .store((f.loss.clamp(0.0, 1.0) * 1e6) as u64, Ordering::SeqCst);
            }
        }
    }

    /// Removes delay, jitter and loss from every link.
    pub fn clear_faults(&self) {
        let all: Vec<NodeId> = (0..=self.nodes).collect();
        self.set_faults(&all, LinkFaults::default());
    }

    /// Stops every proxy (closing their connections).
    pub fn shutdown(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        for r in std::mem::take(&mut self.recorded) {
            if let Err(e) = self.state.remove(&r) {
                tracing::error!(%e, "recording proxy shutdown");
            }
        }
    }
}

impl Drop for ProxyNet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, target: SocketAddr, link: Arc<Link>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let link = link.clone();
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            // A blackholed SYN never arrives: hold the client open, swallowing its bytes, and
            // connect only if the link heals first.
            let mut client = client;
            let mut poisoned = false;
            let mut buf = vec![0u8; 16 * 1024];
            while link.hole_fwd.load(Ordering::SeqCst) {
                tokio::select! {
                    r = client.read(&mut buf) => match r {
                        Ok(0) | Err(_) => return,
                        Ok(_) => poisoned = true,
                    },
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
            if poisoned {
                return;
            }
            let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                return;
            };
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let l2 = link.clone();
            let mut up = tokio::spawn(pump(cr, sw, link, true));
            let mut down = tokio::spawn(pump(sr, cw, l2, false));
            // A clean end of one direction is a half-close: the other may still carry a reply.
            // A broken or poisoned direction ends both.
            tokio::select! {
                r = &mut up => if r.unwrap_or(false) { let _ = down.await; } else { down.abort(); },
                r = &mut down => if r.unwrap_or(false) { let _ = up.await; } else { up.abort(); },
            }
        });
    }
}

async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    link: Arc<Link>,
    forward: bool,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    let mut lost = false;
    let clean = loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => break !lost,
            Err(_) => break false,
            Ok(n) => n,
        };
        let hole = if forward {
            &link.hole_fwd
        } else {
            &link.hole_back
        };
        if hole.load(Ordering::SeqCst) {
            lost = true;
            continue;
        }
        if lost {
            // The stream has a gap: it cannot continue.
            break false;
        }
        let hold = link.hold();
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            break false;
        }
    };
    let _ = w.shutdown().await;
    clean
}
