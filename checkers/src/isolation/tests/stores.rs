//! Reference stores simulated in-process, each with known guarantees.
