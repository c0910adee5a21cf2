//! Tests of the isolation checker: a tiny-history notation, one smallest history per anomaly
//! type with its nearest valid neighbour, reference stores, and a brute-force oracle.

mod anomalies;
mod notation;
mod oracle;
mod parse;
mod realtime;
mod stores;
