//! End-to-end tests of the `faultline` binary.

mod util;

mod check;
mod isolation;
mod knossos;
mod linearizability;
mod nemeses;
mod node;
mod porcupine;
mod run;
mod session;
