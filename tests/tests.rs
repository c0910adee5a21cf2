//! End-to-end tests of the `faultline` binary.

mod util;

mod check;
mod node;
mod run;
