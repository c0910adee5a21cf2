//! Operation generators and target clients: what a `faultline run` asks a store to do, and how
//! each request's result becomes an `ok`, `fail` or `info` completion in the history.
//!
//! - [`op`]: an [`Invocation`] and its [`Completion`], independent of any store.
//! - [`generator`]: seeded, deterministic per-worker op sequences for each [`Workload`].
//! - [`client`]: the [`Target`] / [`Client`] abstraction every store implements.
//! - [`bank`]: bank transfers as conditional multi-key transactions.
//! - [`builtin`]: the built-in store (`faultline node`, docs/node-api.md).
//! - [`etcd`]: etcd's v3 JSON gateway.

pub mod bank;
pub mod builtin;
pub mod client;
pub mod etcd;
pub mod generator;
pub mod op;

pub use client::{BoxFuture, Client, Target, TargetError};
pub use generator::{Generator, Workload};
pub use op::{Completion, Invocation};
