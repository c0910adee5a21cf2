//! The worker pool, Jepsen's process model: `concurrency` workers, each a single-threaded
//! process with at most one operation in flight. An operation that ends `info` (timeout,
//! dropped connection, unknown error) leaves its process indeterminate forever, so the worker
//! continues as a fresh process id. Workers pace themselves to `--rate` in total and stop at
//! the deadline or when asked to (Ctrl-C).

use super::history_writer::HistoryWriter;
use history::{Event, EventType, Process};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workloads::{Client, Completion, Generator, Invocation};

/// Counters shared by workers and the progress line.
#[derive(Debug, Default)]
pub struct Counts {
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.fail.load(Ordering::Relaxed)
            + self.info.load(Ordering::Relaxed)
    }
    fn add(&self, t: EventType) {
        match t {
            EventType::Ok => &self.ok,
            EventType::Fail => &self.fail,
            _ => &self.info,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

/// What every worker shares.
pub struct Shared {
    pub history: Arc<HistoryWriter>,
    pub counts: Arc<Counts>,
    /// The next unused process id (workers start as 0..concurrency).
    pub next_process: AtomicU64,
    pub stop: AtomicBool,
    pub op_timeout: Duration,
}

impl Shared {
    pub fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }
}

/// Records the invocation, performs it (bounded by the op timeout), records the completion.
/// Returns the completion type.
pub async fn perform(
    shared: &Shared,
    client: &mut dyn Client,
    process: u64,
    op: &Invocation,
    node: Option<&str>,
    phase: Option<&str>,
) -> Completion {
    let mut inv = Event::new(
        Process::Client(process),
        EventType::Invoke,
        op.f.clone(),
        op.value.clone(),
    );
    inv.key = op.key.clone();
    inv.node = node.map(str::to_string);
    inv.phase = phase.map(str::to_string);
    shared.history.record(inv);
    // The client's own request timeout normally fires first; this bounds everything else.
    let done = match tokio::time::timeout(
        shared.op_timeout + Duration::from_secs(1),
        client.invoke(op),
    )
    .await
    {
        Ok(c) => c,
        Err(_) => Completion::info(op.value.clone(), "timeout"),
    };
    let mut ev = Event::new(
        Process::Client(process),
        done.typ,
        op.f.clone(),
        done.value.clone(),
    );
    ev.key = op.key.clone();
    ev.node = done.node.clone().or_else(|| node.map(str::to_string));
    ev.error = done.error.clone();
    ev.phase = phase.map(str::to_string);
    shared.history.record(ev);
    shared.counts.add(done.typ);
    done
}

/// One worker's main phase. Returns its generator (for the keys it touched).
pub async fn worker(
    shared: Arc<Shared>,
    mut client: Box<dyn Client>,
    mut gen: Generator,
    first_process: u64,
    deadline: Instant,
    interval: Option<Duration>,
) -> Generator {
    let mut process = first_process;
    let mut next_at = tokio::time::Instant::now();
    while Instant::now() < deadline && !shared.stop.load(Ordering::Relaxed) {
        if let Some(iv) = interval {
            tokio::time::sleep_until(next_at).await;
            next_at += iv;
            let now = tokio::time::Instant::now();
            if next_at < now {
                // Fell behind (slow store): do not burst to catch up.
                next_at = now;
            }
            if Instant::now() >= deadline || shared.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let op = gen.next_op();
        let done = perform(&shared, client.as_mut(), process, &op, None, None).await;
        if done.typ == EventType::Info {
            process = shared.new_process();
        }
    }
    gen
}
