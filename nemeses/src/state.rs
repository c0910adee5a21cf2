//! The run's resource ledger: every namespace, link, bridge, iptables chain, process, file and
//! directory the nemeses create is appended to a JSON-lines state file in the run directory
//! *before* the harness relies on it, and a `remove` line is appended when it is gone. Whatever
//! the file says still exists after the harness died (SIGKILL, power cut) is removed by
//! [`cleanup`], which `faultline cleanup` calls for every run that is no longer alive.

use crate::error::{Error, Result};
use crate::sys;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The state file's name inside a run directory.
pub const STATE_FILE: &str = "nemesis-state.jsonl";

/// Something the harness created and must remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Resource {
    /// A network namespace (`ip netns add NAME`).
    Netns {
        name: String,
    },
    /// A host-side veth (deleting it deletes its peer).
    Link {
        name: String,
    },
    /// The run's bridge.
    Bridge {
        name: String,
    },
    /// Our iptables chain inside a namespace, jumped to first from INPUT and OUTPUT.
    Chain {
        netns: String,
        chain: String,
    },
    /// A process we started; `group` when it leads its own process group.
    Process {
        pid: u32,
        start_time: u64,
        cmdline: String,
        group: bool,
    },
    File {
        path: PathBuf,
    },
    Dir {
        path: PathBuf,
    },
    /// An in-process link proxy; it dies with the harness, recorded for the account only.
    Proxy {
        listen: String,
    },
}

impl Resource {
    /// Removal order: processes first (they hold namespaces), then rules, links, bridge,
    /// namespaces, files, directories.
    fn rank(&self) -> u8 {
        match self {
            Resource::Process { .. } => 0,
            Resource::Proxy { .. } => 1,
            Resource::Chain { .. } => 2,
            Resource::Link { .. } => 3,
            Resource::Bridge { .. } => 4,
            Resource::Netns { .. } => 5,
            Resource::File { .. } => 6,
            Resource::Dir { .. } => 7,
        }
    }

    /// A process resource for a running pid (its start time and command line read now).
    pub fn process(pid: u32, group: bool) -> Resource {
        Resource::Process {
            pid,
            start_time: sys::start_time(pid).unwrap_or(0),
            cmdline: sys::cmdline(pid).unwrap_or_default(),
            group,
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Netns { name } => write!(f, "network namespace {name}"),
            Resource::Link { name } => write!(f, "link {name}"),
            Resource::Bridge { name } => write!(f, "bridge {name}"),
            Resource::Chain { netns, chain } => {
                write!(f, "iptables chain {chain} in namespace {netns}")
            }
            Resource::Process { pid, cmdline, .. } => write!(f, "process {pid} ({cmdline})"),
            Resource::File { path } => write!(f, "file {}", path.display()),
            Resource::Dir { path } => write!(f, "directory {}", path.display()),
            Resource::Proxy { listen } => write!(f, "link proxy on {listen}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Line {
    /// The process that owns the run (first line).
    Owner {
        pid: u32,
        start_time: u64,
    },
    Add {
        resource: Resource,
    },
    Remove {
        resource: Resource,
    },
}

/// The open ledger of one run (append-only, flushed on every line).
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl StateFile {
    /// Creates (or appends to) `run_dir/nemesis-state.jsonl`, recording this process as owner.
    pub fn create(run_dir: &Path) -> Result<StateFile> {
        std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
        let path = run_dir.join(STATE_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let s = StateFile {
            path,
            file: Mutex::new(file),
        };
        let pid = std::process::id();
        s.write(&Line::Owner {
            pid,
            start_time: sys::start_time(pid).unwrap_or(0),
        })?;
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a resource that is about to exist (call before creating it, so a crash in
    /// between leaves a record cleanup can act on; removal of a missing thing is a no-op).
    pub fn add(&self, resource: &Resource) -> Result<()> {
        self.write(&Line::Add {
            resource: resource.clone(),
        })
    }

    /// Records that a resource is gone.
    pub fn remove(&self, resource: &Resource) -> Result<()> {
        self.write(&Line::Remove {
            resource: resource.clone(),
        })
    }

    /// Records the removal of every process in the ledger that is no longer running (nodes
    /// the runner stopped and reaped itself). Returns how many.
    pub fn forget_dead_processes(&self) -> Result<usize> {
        let ledger = read(&self.path)?;
        let mut n = 0;
        for r in ledger.outstanding {
            if let Resource::Process {
                pid, start_time, ..
            } = &r
            {
                if !sys::alive(*pid) || sys::start_time(*pid) != Some(*start_time) {
                    self.remove(&r)?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    fn write(&self, line: &Line) -> Result<()> {
        let mut text = serde_json::to_string(line).map_err(|e| Error::StateFile {
            path: self.path.clone(),
            line: 0,
            problem: e.to_string(),
        })?;
        text.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// What a state file says: its owner and the resources still outstanding, in creation order.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub owner: Option<(u32, u64)>,
    pub outstanding: Vec<Resource>,
}

impl Ledger {
    /// True when the owning process still runs (same pid and start time).
    pub fn owner_alive(&self) -> bool {
        self.owner
            .is_some_and(|(pid, st)| sys::alive(pid) && sys::start_time(pid) == Some(st))
    }
}

/// Reads a state file. A torn last line (the writer was killed mid-write) is ignored; any other
/// malformed line is an error naming the line.
pub fn read(path: &Path) -> Result<Ledger> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut ledger = Ledger::default();
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let parsed: Line = match serde_json::from_str(l) {
            Ok(p) => p,
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => {
                return Err(Error::StateFile {
                    path: path.to_path_buf(),
                    line: i + 1,
                    problem: e.to_string(),
                })
            }
        };
        match parsed {
            Line::Owner { pid, start_time } => {
                ledger.owner.get_or_insert((pid, start_time));
            }
            Line::Add { resource } => {
                if !ledger.outstanding.contains(&resource) {
                    ledger.outstanding.push(resource)
                }
            }
            Line::Remove { resource } => ledger.outstanding.retain(|r| r != &resource),
        }
    }
    Ok(ledger)
}

/// What cleanup did with one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Removed,
    /// It no longer existed.
    AlreadyGone,
    /// A pid now belongs to another program: left alone.
    NotOurs,
    Failed(String),
}

/// Removes every outstanding resource of the run in `run_dir` (whose owner must be dead, or
/// the caller must be the owner tearing down), recording each removal in the state file.
/// Returns each resource with what happened to it.
pub fn cleanup(run_dir: &Path) -> Result<Vec<(Resource, Outcome)>> {
    let path = run_dir.join(STATE_FILE);
    let ledger = read(&path)?;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let state = StateFile {
        path: path.clone(),
        file: Mutex::new(file),
    };
    let mut todo: Vec<(usize, Resource)> = ledger.outstanding.into_iter().enumerate().collect();
    // By kind, then newest first within a kind.
    todo.sort_by_key(|(i, r)| (r.rank(), std::cmp::Reverse(*i)));
    let mut report = Vec::new();
    for (_, r) in todo {
        let outcome = remove_resource(&r);
        if !matches!(outcome, Outcome::Failed(_)) {
            state.remove(&r)?;
        }
        report.push((r, outcome));
    }
    Ok(report)
}

/// Removes one resource now.
pub fn remove_resource(r: &Resource) -> Outcome {
    match r {
        Resource::Process {
            pid,
            start_time,
            group,
            ..
        } => kill_process(*pid, *start_time, *group),
        Resource::Proxy { .. } => Outcome::AlreadyGone,
        Resource::Chain { netns, chain } => {
            if !netns_exists(netns) {
                return Outcome::AlreadyGone;
            }
            let mut any = false;
            for hook in ["INPUT", "OUTPUT"] {
                while sys::run_in(netns, "iptables", &["-D", hook, "-j", chain]).is_ok() {
                    any = true;
                }
            }
            let _ = sys::run_in(netns, "iptables", &["-F", chain]);
            match sys::run_in(netns, "iptables", &["-X", chain]) {
                Ok(_) => Outcome::Removed,
                Err(_) if !any => Outcome::AlreadyGone,
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }
        Resource::Link { name } | Resource::Bridge { name } => {
            if !link_exists(name) {
                return Outcome::AlreadyGone;
            }
            match sys::run("ip", &["link", "del", name]) {
                Ok(_) => Outcome::Removed,
                Err(e) if !link_exists(name) => {
                    tracing::debug!(%e, "link vanished while deleting");
                    Outcome::AlreadyGone
                }
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }
        Resource::Netns { name } => {
            if !netns_exists(name) {
                return Outcome::AlreadyGone;
            }
            // Anything still running inside our namespace is ours: kill it first, or the
            // namespace (and its veth) outlives its name.
            if let Ok(pids) = sys::run("ip", &["netns", "pids", name]) {
                for pid in pids
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok())
                {
                    let _ = sys::signal(pid, libc::SIGKILL);
                    sys::wait_gone(pid, Duration::from_secs(3));
                }
            }
            match sys::run("ip", &["netns", "del", name]) {
                Ok(_) => Outcome::Removed,
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }
        Resource::File { path } => match std::fs::remove_file(path) {
            Ok(()) => Outcome::Removed,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::AlreadyGone,
            Err(e) => Outcome::Failed(format!("{}: {e}", path.display())),
        },
        Resource::Dir { path } => match std::fs::remove_dir_all(path) {
            Ok(()) => Outcome::Removed,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::AlreadyGone,
            Err(e) => Outcome::Failed(format!("{}: {e}", path.display())),
        },
    }
}

fn kill_process(pid: u32, start_time: u64, group: bool) -> Outcome {
    if !sys::alive(pid) {
        return Outcome::AlreadyGone;
    }
    if sys::start_time(pid) != Some(start_time) {
        return Outcome::NotOurs;
    }
    let sent = if group && sys::pgid(pid) == Some(pid) {
        sys::signal_group(pid, libc::SIGKILL)
    } else {
        sys::signal(pid, libc::SIGKILL)
    };
    if let Err(e) = sent {
        return Outcome::Failed(e.to_string());
    }
    if sys::wait_gone(pid, Duration::from_secs(5)) {
        Outcome::Removed
    } else {
        Outcome::Failed(format!("process {pid} did not exit after SIGKILL"))
    }
}

/// True when `ip netns list` shows this namespace.
pub fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// True when a link with this name exists on the host.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Finds state files of runs under `store` (`store/*/*/nemesis-state.jsonl`).
pub fn find_state_files(store: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(level1) = std::fs::read_dir(store) else {
        return found;
    };
    for a in level1.flatten() {
        let Ok(level2) = std::fs::read_dir(a.path()) else {
            continue;
        };
        for b in level2.flatten() {
            let p = b.path().join(STATE_FILE);
            if p.is_file() {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_tracks_adds_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateFile::create(dir.path()).unwrap();
        let a = Resource::File {
            path: dir.path().join("a"),
        };
        let b = Resource::Netns { name: "flx".into() };
        s.add(&a).unwrap();
        s.add(&b).unwrap();
        s.remove(&a).unwrap();
        let l = read(s.path()).unwrap();
        assert_eq!(l.outstanding, vec![b]);
        assert!(l.owner_alive());
    }

    #[test]
    fn torn_last_line_is_ignored_but_bad_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(STATE_FILE);
        std::fs::write(
            &p,
            "{\"op\":\"add\",\"resource\":{\"kind\":\"link\",\"name\":\"x\"}}\n{\"op\":\"ad",
        )
        .unwrap();
        assert_eq!(read(&p).unwrap().outstanding.len(), 1);
        std::fs::write(
            &p,
            "garbage\n{\"op\":\"add\",\"resource\":{\"kind\":\"link\",\"name\":\"x\"}}\n",
        )
        .unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains(":1:"), "{e}");
    }

    #[test]
    fn cleanup_removes_files_and_dirs_and_records_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateFile::create(dir.path()).unwrap();
        let f = dir.path().join("faketime-1");
        let d = dir.path().join("tmpdir");
        std::fs::write(&f, "+0").unwrap();
        std::fs::create_dir(&d).unwrap();
        s.add(&Resource::File { path: f.clone() }).unwrap();
        s.add(&Resource::Dir { path: d.clone() }).unwrap();
        s.add(&Resource::Link {
            name: "flnosuchlink".into(),
        })
        .unwrap();
        let report = cleanup(dir.path()).unwrap();
        assert_eq!(report.len(), 3);
        assert!(!f.exists() && !d.exists());
        assert!(report.iter().any(|(_, o)| *o == Outcome::AlreadyGone));
        assert!(read(s.path()).unwrap().outstanding.is_empty());
    }

    #[test]
    fn cleanup_kills_our_process_but_not_a_recycled_pid() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateFile::create(dir.path()).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let ours = Resource::process(child.id(), false);
        // Same pid but a different start time: a recycled pid that is not ours.
        let stranger = Resource::Process {
            pid: std::process::id(),
            start_time: 1,
            cmdline: "someone else".into(),
            group: false,
        };
        s.add(&ours).unwrap();
        s.add(&stranger).unwrap();
        let reaper = std::thread::spawn(move || child.wait());
        let report = cleanup(dir.path()).unwrap();
        assert!(report.contains(&(ours, Outcome::Removed)), "{report:?}");
        assert!(report.contains(&(stranger, Outcome::NotOurs)), "{report:?}");
        assert!(!reaper.join().unwrap().unwrap().success());
    }
}
