//! The harness log: timestamped lines in the run directory's `harness.log`, echoed to stderr.
//! On a terminal a single progress line is redrawn in place; the log clears it before printing.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

pub struct HarnessLog {
    start: Instant,
    file: Mutex<Option<File>>,
    /// Whether stderr is a terminal (live progress line) or not (plain lines).
    pub terminal: bool,
    quiet: bool,
}

impl HarnessLog {
    /// A log that writes to `path` (if given) and to stderr unless `quiet`.
    pub fn new(path: Option<&Path>, quiet: bool) -> std::io::Result<HarnessLog> {
        let file = match path {
            Some(p) => Some(File::create(p)?),
            None => None,
        };
        Ok(HarnessLog {
            start: Instant::now(),
            file: Mutex::new(file),
            terminal: std::io::stderr().is_terminal(),
            quiet,
        })
    }

    /// One log line.
    pub fn line(&self, msg: impl AsRef<str>) {
        let text = format!(
            "[{:>7.2}s] {}",
            self.start.elapsed().as_secs_f64(),
            msg.as_ref()
        );
        if let Some(f) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(f, "{text}");
        }
        if !self.quiet {
            if self.terminal {
                eprint!("\r\x1b[2K");
            }
            eprintln!("{text}");
        }
    }

    /// The live progress line: redrawn in place on a terminal, a plain log line otherwise.
    pub fn progress(&self, msg: &str) {
        if self.quiet {
            return;
        }
        if self.terminal {
            eprint!("\r\x1b[2K{msg}");
            let _ = std::io::stderr().flush();
        } else {
            self.line(msg);
        }
    }

    /// Ends the progress line on a terminal.
    pub fn end_progress(&self) {
        if self.terminal && !self.quiet {
            eprint!("\r\x1b[2K");
        }
    }
}
