//! Process faults: `kill` (SIGKILL of the node's process group; its inverse restarts the node
//! through the runner's callback, with the same data directory) and `pause` (SIGSTOP of the
//! process group; its inverse SIGCONT). Nodes must lead their own process group: spawn them
//! with [`spawn`], which also records them in the state file.

use crate::error::{Error, Result};
use crate::grudge::NodeId;
use crate::state::{Resource, StateFile};
use crate::sys;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

/// What the runner tells the nemesis about its node processes.
pub trait NodeProcesses: Send {
    /// The pid of node `node`'s process (the leader of its process group), if it runs.
    fn pid(&self, node: NodeId) -> Option<u32>;
    /// Starts node `node` again after a kill (same data directory). Must reap the old child.
    fn restart(&mut self, node: NodeId) -> std::result::Result<(), String>;
}

/// Spawns `cmd` as the leader of a new process group and records it in `state`.
pub fn spawn(cmd: &mut Command, state: &StateFile) -> Result<Child> {
    cmd.process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("{:?}", cmd.get_program()), e))?;
    state.add(&Resource::process(child.id(), true))?;
    Ok(child)
}

fn group_of(node: NodeId, pid: u32) -> Result<u32> {
    match sys::pgid(pid) {
        Some(g) if g == pid => Ok(g),
        Some(g) => Err(Error::Invalid(format!(
            "node {node} (pid {pid}) is in process group {g}, not its own: spawn nodes with nemeses::process::spawn"
        ))),
        None => Err(Error::Node {
            node,
            problem: format!("process {pid} is not running"),
        }),
    }
}

/// SIGKILLs node `node`'s process group and waits until the leader is gone (or a zombie).
pub fn kill(procs: &dyn NodeProcesses, node: NodeId) -> Result<u32> {
    let pid = procs.pid(node).ok_or_else(|| Error::Node {
        node,
        problem: "not running".into(),
    })?;
    let g = group_of(node, pid)?;
    sys::signal_group(g, libc::SIGKILL)?;
    if !sys::wait_gone(pid, Duration::from_secs(5)) {
        return Err(Error::Node {
            node,
            problem: format!("pid {pid} still alive 5 s after SIGKILL"),
        });
    }
    Ok(pid)
}

/// Restarts a killed node through the runner's callback.
pub fn restart(procs: &mut dyn NodeProcesses, node: NodeId) -> Result<()> {
    procs
        .restart(node)
        .map_err(|problem| Error::Node { node, problem })
}

/// SIGSTOPs node `node`'s whole process group, and waits until the leader's threads are all
/// stopped (the signal is asynchronous).
pub fn pause(procs: &dyn NodeProcesses, node: NodeId) -> Result<u32> {
    let pid = signal_node(procs, node, libc::SIGSTOP)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !sys::all_threads_in(pid, 'T') {
        if std::time::Instant::now() > deadline {
            return Err(Error::Node {
                node,
                problem: format!("pid {pid} not stopped 2 s after SIGSTOP"),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(pid)
}

/// SIGCONTs node `node`'s whole process group.
pub fn resume(procs: &dyn NodeProcesses, node: NodeId) -> Result<u32> {
    signal_node(procs, node, libc::SIGCONT)
}

fn signal_node(procs: &dyn NodeProcesses, node: NodeId, sig: i32) -> Result<u32> {
    let pid = procs.pid(node).ok_or_else(|| Error::Node {
        node,
        problem: "not running".into(),
    })?;
    let g = group_of(node, pid)?;
    sys::signal_group(g, sig)?;
    Ok(pid)
}
