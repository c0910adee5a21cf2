//! Group commit: client writes wait in a bounded queue and a single task executes them in
//! groups, so that one fsync covers a whole group. The executing function holds the replica's
//! state lock for the whole group, fsync included, so nothing of a group is visible (to readers
//! or to replication) before it is durable.

use crate::error::ApiError;
use crate::server::Exec;
use crate::store::ClientOp;
use tokio::sync::{mpsc, oneshot};

/// Most writes waiting; beyond that clients get a definite 503.
pub const QUEUE: usize = 4096;
/// Most writes in one group.
pub const MAX_GROUP: usize = 256;

type Reply = oneshot::Sender<Result<Exec, ApiError>>;

pub struct Group {
    tx: mpsc::Sender<(ClientOp, Reply)>,
}

impl Group {
    /// Starts the task that runs `exec` on each group (answers in request order).
    pub fn spawn<F>(exec: F) -> Self
    where
        F: Fn(Vec<ClientOp>) -> Vec<Result<Exec, ApiError>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<(ClientOp, Reply)>(QUEUE);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(r) => group.push(r),
                        Err(_) => break,
                    }
                }
                let (ops, replies): (Vec<ClientOp>, Vec<Reply>) = group.into_iter().unzip();
                let results = blocking(|| exec(ops));
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(r);
                }
            }
        });
        Group { tx }
    }

    /// Queues a write and waits for its result.
    pub async fn submit(&self, op: ClientOp) -> Result<Exec, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send((op, reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                ApiError::Unavailable(format!("{QUEUE} writes are already queued"))
            }
            mpsc::error::TrySendError::Closed(_) => {
                ApiError::Unavailable("the write queue is closed".into())
            }
        })?;
        rx.await
            .map_err(|_| ApiError::Indeterminate("the write queue stopped".into()))?
    }
}

/// Runs `f`, which blocks on an fsync, telling a multi-threaded runtime to move other tasks
/// off this thread meanwhile.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Turns the successes of a group into internal errors when its fsync failed.
pub fn fail_unsynced(
    results: Vec<Result<Exec, ApiError>>,
    err: &crate::NodeError,
) -> Vec<Result<Exec, ApiError>> {
    tracing::error!(%err, "fsync of a write group failed; answering indeterminate");
    results
        .into_iter()
        .map(|r| r.and(Err(ApiError::Internal(format!("log fsync failed: {err}")))))
        .collect()
}
