//! Unit tests of the linearizability checker: every model, valid and invalid, crashed ops.
