//! The durable append-only log in a replica's data directory: one JSON record per line.
//!
//! Records are written whole and, when the caller asks for durability, `fdatasync`ed before the
//! caller acknowledges anything. On open the log is replayed; a torn last line (a crash in the
//! middle of a write, which was therefore never acknowledged) is cut off, while a corrupt line
//! followed by valid ones is an error naming the file and line.

use crate::error::NodeError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

pub struct Log<T> {
    path: PathBuf,
    file: File,
    len: u64,
    _records: PhantomData<fn(T) -> T>,
}

impl<T: Serialize + DeserializeOwned> Log<T> {
    /// Opens (creating if needed) `dir/name` and returns the log with its replayed records.
    pub fn open(dir: &Path, name: &str) -> Result<(Self, Vec<T>), NodeError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| NodeError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(name);
        let mut records = Vec::new();
        let mut good_bytes: u64 = 0;
        if path.exists() {
            let f = File::open(&path).map_err(io(&path))?;
            let mut reader = BufReader::new(f);
            let mut line = String::new();
            let mut lineno = 0usize;
            let mut torn: Option<(usize, String)> = None;
            loop {
                line.clear();
                let n = reader.read_line(&mut line).map_err(io(&path))?;
                if n == 0 {
                    break;
                }
                lineno += 1;
                if let Some((l, problem)) = torn.take() {
                    return Err(NodeError::CorruptLog {
                        path,
                        line: l,
                        problem,
                    });
                }
                let complete = line.ends_with('\n');
                match serde_json::from_str::<T>(line.trim_end()) {
                    Ok(r) if complete => {
                        records.push(r);
                        good_bytes += n as u64;
                    }
                    Ok(_) => torn = Some((lineno, "record without its newline".into())),
                    Err(e) => torn = Some((lineno, e.to_string())),
                }
            }
            if let Some((l, problem)) = torn {
                tracing::warn!(path = %path.display(), line = l, %problem,
                    "cutting off a torn last log record (never acknowledged)");
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len(good_bytes).map_err(io(&path))?;
        let len = records.len() as u64;
        Ok((
            Log {
                path,
                file,
                len,
                _records: PhantomData,
            },
            records,
        ))
    }

    /// Appends records; with `durable` they are on disk when this returns.
    pub fn append(&mut self, records: &[T], durable: bool) -> Result<(), NodeError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| NodeError::Io {
                path: self.path.clone(),
                source: std::io::Error::other(e),
            })?;
            buf.push(b'\n');
        }
        let io = |source| NodeError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&buf).map_err(io)?;
        if durable {
            self.file.sync_data().map_err(|source| NodeError::Io {
                path: self.path.clone(),
                source,
            })?;
        }
        self.len += records.len() as u64;
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> Result<(), NodeError> {
        self.file.sync_data().map_err(|source| NodeError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Number of records in the log.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_survive_reopen_and_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, recs) = Log::<u64>::open(dir.path(), "log.jsonl").unwrap();
            assert!(recs.is_empty());
            log.append(&[1, 2], true).unwrap();
            log.append(&[3], false).unwrap();
            assert_eq!(log.len(), 3);
        }
        // Simulate a crash mid-write.
        let p = dir.path().join("log.jsonl");
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"4").unwrap();
        drop(f);
        let (mut log, recs) = Log::<u64>::open(dir.path(), "log.jsonl").unwrap();
        assert_eq!(recs, vec![1, 2, 3]);
        log.append(&[5], true).unwrap();
        drop(log);
        let (_, recs) = Log::<u64>::open(dir.path(), "log.jsonl").unwrap();
        assert_eq!(recs, vec![1, 2, 3, 5]);
    }

    #[test]
    fn corruption_in_the_middle_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log.jsonl"), "1\nxx\n3\n").unwrap();
        let e = Log::<u64>::open(dir.path(), "log.jsonl")
            .err()
            .expect("corrupt log must not open");
        assert!(e.to_string().contains("log.jsonl:2"), "{e}");
    }
}
