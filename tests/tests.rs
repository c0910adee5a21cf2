//! End-to-end tests of the `faultline` binary.

mod util;

mod check;
mod nemeses;
mod node;
mod run;
