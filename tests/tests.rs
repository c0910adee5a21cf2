//! End-to-end tests of the `faultline` binary.

mod util;

mod check;
mod session;
mod linearizability;
mod porcupine;
mod isolation;
mod nemeses;
mod node;
mod run;
