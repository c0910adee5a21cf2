//! The target abstraction: a [`Target`] is a running store (built-in cluster, etcd, later
//! PostgreSQL or Redis) that hands out one [`Client`] per worker. A client executes one
//! [`Invocation`] at a time and classifies the result: `ok` with the observed value, `fail` when
//! the store certainly did not apply it, `info` when it cannot tell.

use crate::generator::Workload;
use crate::op::{Completion, Invocation};
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so that clients can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A target cannot serve a workload or could not be reached at setup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the {target} target does not support the {workload} workload: {why}")]
    Unsupported {
        target: &'static str,
        workload: &'static str,
        why: &'static str,
    },
    #[error("could not build an HTTP client: {0}")]
    Http(String),
}

/// One worker's connection to the store. At most one operation is in flight per client.
pub trait Client: Send {
    /// Performs `op` and says how it ended. Never panics on what the store answers.
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion>;
}

/// A store under test.
pub trait Target: Send + Sync {
    /// `builtin`, `etcd`, ...
    fn name(&self) -> &'static str;
    /// Number of nodes (replicas) clients can talk to.
    fn nodes(&self) -> usize;
    /// Node names, in node order (as they appear in the history's `node` field).
    fn node_names(&self) -> Vec<String>;
    /// Whether this target can run `w`. The built-in store and etcd run every workload;
    /// a target that cannot (a future one) says why here, before any node starts.
    fn supports(&self, _w: Workload) -> Result<(), TargetError> {
        Ok(())
    }
    /// The client of worker `worker`; it stays with node `worker % nodes()` where the target's
    /// guarantees depend on it.
    fn client(&self, worker: usize) -> Box<dyn Client>;
    /// A client that reads node `node`'s own state without coordination (final reads).
    fn node_client(&self, node: usize) -> Box<dyn Client>;
}
