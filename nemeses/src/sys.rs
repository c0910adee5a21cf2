//! Thin wrappers over the operating system: running `ip`/`iptables`, entering a network
//! namespace from one thread, reading a process's identity from /proc, and sending signals.

use crate::error::{Error, Result};
use std::path::Path;
use std::process::Command;

/// Runs `program args...`, returning stdout; a non-zero exit is an [`Error::Command`].
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::Command {
            command: command.clone(),
            code: None,
            stderr: format!("cannot start: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command,
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program args...` inside network namespace `ns` (`ip netns exec`).
pub fn run_in(ns: &str, program: &str, args: &[&str]) -> Result<String> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// True when a program is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// True when the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `f` on a fresh thread whose network namespace is `ns`; sockets created there stay in
/// that namespace after the thread ends (a network namespace is per thread, unlike mounts).
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let path = Path::new("/run/netns").join(ns);
    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let handle = std::thread::spawn(move || -> std::io::Result<T> {
        use std::os::fd::AsRawFd;
        // SAFETY: fd is a valid open namespace file for the duration of the call.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(f())
    });
    handle
        .join()
        .map_err(|_| Error::Invalid(format!("thread in namespace {ns} panicked")))?
        .map_err(|e| Error::io(path, e))
}

/// A process's identity: its start time in clock ticks since boot (field 22 of
/// /proc/PID/stat), so a recycled pid is never mistaken for ours.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The process's command line, NUL separators turned into spaces.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The process state letter from /proc/PID/stat (`R`, `S`, `T` stopped, `Z` zombie, ...).
pub fn state_char(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Every thread of `pid` (from /proc/PID/task) is in state `want`.
pub fn all_threads_in(pid: u32, want: char) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
            stat.rfind(')')
                .and_then(|i| {
                    stat[i + 1..]
                        .split_whitespace()
                        .next()
                        .map(|s| s.starts_with(want))
                })
                .unwrap_or(false)
        })
    })
}

/// True when a process with this pid exists and is not (entirely) a zombie. The leader of a
/// multi-threaded process shows `Z` as soon as its own thread exits while the others may
/// still run (and hold its sockets), so every thread is looked at.
pub fn alive(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
            stat.rfind(')')
                .and_then(|i| {
                    stat[i + 1..]
                        .split_whitespace()
                        .next()
                        .map(|s| s != "Z" && s != "X")
                })
                .unwrap_or(false)
        })
    })
}

/// Sends `sig` to one process.
pub fn signal(pid: u32, sig: i32) -> Result<()> {
    // SAFETY: kill has no memory preconditions.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    if rc != 0 {
        return Err(Error::io(
            format!("/proc/{pid}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Sends `sig` to a whole process group.
pub fn signal_group(pgid: u32, sig: i32) -> Result<()> {
    // SAFETY: killpg has no memory preconditions.
    let rc = unsafe { libc::killpg(pgid as libc::pid_t, sig) };
    if rc != 0 {
        return Err(Error::io(
            format!("process group {pgid}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// The process group of a process, if it exists.
pub fn pgid(pid: u32) -> Option<u32> {
    // SAFETY: getpgid has no memory preconditions.
    let g = unsafe { libc::getpgid(pid as libc::pid_t) };
    (g > 0).then_some(g as u32)
}

/// Waits up to `timeout` for `pid` to disappear; true when it did.
pub fn wait_gone(pid: u32, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    !alive(pid)
}
