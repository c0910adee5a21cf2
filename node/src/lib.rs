//! The built-in replicated reference store (arrives with the runner issue).
