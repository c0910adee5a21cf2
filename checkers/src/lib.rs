//! Pure history analysis: given a [`history::History`] and the consistency models the user
//! expects, find the anomalies those models forbid and explain each with a minimal witness.
//!
//! No tokio, no network, no CLI. The shape follows Elle: each analysis infers what it can from
//! the history and reports anomalies as data ([`Anomaly`]); the model lattice ([`models`]) says
//! which anomalies each model forbids; [`check`] runs the analyses the expected models need
//! and derives the three-valued verdict and the `not` / `also_not` boundary.

pub mod anomaly;
pub mod appends;
pub mod bank;
pub mod causal;
pub mod check;
pub mod convergence;
pub mod counter;
pub mod isolation;
pub mod linear;
pub mod models;
pub mod register_sequential;
pub mod register_session;
pub mod result;
pub mod scc;
pub mod semantics;
pub mod session;
pub mod set;
#[cfg(test)]
mod stack_tests;
pub mod weak_models;

pub use anomaly::Anomaly;
pub use check::{check, Analysis, CheckError, CheckOptions, Findings};
pub use result::{Artifact, CheckResult, Verdict};
