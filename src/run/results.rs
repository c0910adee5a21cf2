//! The results store: `store/<test-name>/<timestamp>/` holding history.jsonl, results.json,
//! config.json, harness.log and the node logs, and `store/latest` pointing at the newest run.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// A fresh run directory under `store/name/`, named by the UTC time (made unique if two runs
/// start within the same second). Also points `store/latest` at it.
pub fn create_run_dir(store: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let parent = store.join(name);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("creating results directory {}", parent.display()))?;
    let stamp = timestamp();
    // create_dir is the arbiter when runs start in the same second (even in parallel).
    for n in 0..1000 {
        let dir = if n == 0 {
            parent.join(&stamp)
        } else {
            parent.join(format!("{stamp}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                point_latest(store, &dir);
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    anyhow::bail!(
        "too many runs named {name} in one second under {}",
        parent.display()
    )
}

/// `store/latest` -> the run directory (relative, so the store can be moved). Best effort.
fn point_latest(store: &Path, dir: &Path) {
    let link = store.join("latest");
    let target = dir.strip_prefix(store).unwrap_or(dir);
    let tmp = store.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(target, &tmp).is_ok() && std::fs::rename(&tmp, &link).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// UTC `YYYYMMDDTHHMMSS` from the system clock (civil-from-days, no timezone database).
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn run_dirs_are_unique_and_latest_points_at_the_newest() {
        let store = tempfile::tempdir().unwrap();
        let a = create_run_dir(store.path(), "t").unwrap();
        let b = create_run_dir(store.path(), "t").unwrap();
        assert_ne!(a, b);
        let latest = std::fs::canonicalize(store.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&b).unwrap());
    }
}
