//! The history file, written as events happen: each event gets its `index` (line order) and
//! `time` (nanoseconds since the run started) under one lock, so the file's order is the real-
//! time order the checkers rely on. Buffered output is flushed at least every half second (by
//! [`HistoryWriter::flush`] from a ticker, and on every write after that long), so a run killed
//! with SIGKILL leaves a history that `faultline check` accepts: at worst some operations are
//! pending, which the history model treats as indeterminate.

use history::Event;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FLUSH_EVERY: Duration = Duration::from_millis(500);

pub struct HistoryWriter {
    start: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    out: BufWriter<File>,
    next_index: u64,
    last_flush: Instant,
    error: Option<String>,
}

impl HistoryWriter {
    pub fn create(path: &Path, start: Instant) -> std::io::Result<HistoryWriter> {
        let file = File::create(path)?;
        Ok(HistoryWriter {
            start,
            inner: Mutex::new(Inner {
                out: BufWriter::with_capacity(1 << 16, file),
                next_index: 0,
                last_flush: Instant::now(),
                error: None,
            }),
        })
    }

    /// Appends one event (its `index` and `time` are assigned here).
    pub fn record(&self, mut ev: Event) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        ev.index = Some(g.next_index);
        ev.time = Some(self.start.elapsed().as_nanos() as i64);
        g.next_index += 1;
        let mut line = ev.to_json().to_string();
        line.push('\n');
        if let Err(e) = g.out.write_all(line.as_bytes()) {
            g.error.get_or_insert(e.to_string());
        }
        if g.last_flush.elapsed() >= FLUSH_EVERY {
            Self::flush_locked(&mut g);
        }
    }

    fn flush_locked(g: &mut Inner) {
        if let Err(e) = g.out.flush() {
            g.error.get_or_insert(e.to_string());
        }
        g.last_flush = Instant::now();
    }

    /// Flushes buffered events to the file.
    pub fn flush(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Self::flush_locked(&mut g);
    }

    /// Number of events written.
    pub fn events(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_index
    }

    /// The first write error, if any (the history is then incomplete).
    pub fn error(&self) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .error
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::{EventType, Process};
    use serde_json::Value;

    #[test]
    fn writes_indexed_events_that_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let w = HistoryWriter::create(&path, Instant::now()).unwrap();
        w.record(Event::new(
            Process::Client(0),
            EventType::Invoke,
            "read",
            Value::Null,
        ));
        w.record(Event::new(
            Process::Client(0),
            EventType::Ok,
            "read",
            Value::from(3),
        ));
        w.flush();
        let h = history::load_file(&path, None).unwrap();
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].value, Value::from(3));
        assert_eq!(h.ops[0].complete_index, Some(1));
        assert_eq!(w.events(), 2);
    }
}
