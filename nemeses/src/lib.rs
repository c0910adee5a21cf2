//! Faults and their inverses, on one machine, with nothing left behind.
//!
//! - [`net`]: nodes as hosts, either network namespaces on a per-run bridge ([`netns`], root)
//!   or loopback addresses behind a per-link TCP proxy ([`proxy`]); the address map the runner
//!   uses; partitions ([`grudge`] patterns) and link latency/loss.
//! - [`clock`]: clock skew (bump, strobe, scramble, reset) through a pluggable setter (the
//!   built-in store's control API, libfaketime, or "unsupported" for etcd).
//! - [`process`]: kill (SIGKILL + restart through the runner's callback) and pause
//!   (SIGSTOP/SIGCONT of the process group).
//! - [`schedule`]: the seeded nemesis loop: start a fault, hold, heal, rest, repeat; final heal;
//!   every step emitted as a `"nemesis"` history event ([`events`]).
//! - [`capability`]: which requested faults this machine can inject.
//! - [`state`]: the ledger of everything created, and [`state::cleanup`] for runs that died.

pub mod capability;
pub mod clock;
pub mod error;
pub mod events;
pub mod grudge;
pub mod net;
pub mod netns;
pub mod process;
pub mod proxy;
pub mod schedule;
pub mod state;
pub mod sys;

pub use error::{Error, Result};
pub use grudge::{Grudge, NodeId, Pattern};
pub use net::{Net, NetConfig, NetMode};
pub use state::{Resource, StateFile};
