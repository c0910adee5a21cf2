//! Faults and their inverses (arrives with the nemeses issue).
