//! The built-in replicated reference store behind `faultline node`.
//!
//! Each replica is one OS process serving the HTTP API of `docs/node-api.md` (client operations,
//! control API) plus a peer API used only between replicas. A replica runs in one of four
//! [`Mode`]s, each a real replication algorithm with the promise documented in
//! `docs/builtin-store.md`:
//! - [`strong`]: fixed primary, majority-acknowledged log, read confirmation by a majority round;
//! - [`causal`]: vector clocks, causal delivery, Lamport arbitration;
//! - [`session`]: asynchronous primary-to-replica shipping, session tokens = log positions;
//! - [`eventual`]: last-writer-wins by wall clock, push replication and anti-entropy.
//!
//! Every replica keeps an append-only [`log`] in its data directory and replays it on restart.
//! [`server::serve`] is the entry point; [`api`] holds the wire types the runner may import.

pub mod api;
pub mod causal;
pub mod clock;
pub mod config;
pub mod error;
pub mod eventual;
pub mod group;
pub mod log;
pub mod peer;
pub mod replication;
pub mod server;
pub mod session;
pub mod store;
pub mod strong;

pub use config::{Mode, NodeConfig};
pub use error::{ApiError, NodeError};
pub use server::serve;
