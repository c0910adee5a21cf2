//! The history of a test: every operation a client invoked and how it completed, plus the
//! nemesis's fault events, in real-time order.
//!
//! A history file is a sequence of *events* (one per line in JSONL: see `docs/history-format.md`).
//! [`History::from_events`] validates the event sequence and pairs each invocation with its
//! completion into an [`Op`]; checkers work on ops. Codecs for the formats people already have
//! live in their own modules and all produce [`Event`]s.
//!
//! Transactions (`f = "txn"`) are held typed: their micro-ops, with keys and values interned
//! once for the whole history, live in [`History::txns`] ([`txn::TxnStore`]), which is what
//! keeps a loaded history to a few hundred bytes per transaction; [`History::value`] gives the
//! JSON back where a person reads it.

pub mod edn;
pub mod error;
pub mod event;
pub mod format;
pub mod jepsen_log;
pub mod jsonl;
pub mod name;
pub mod op;
pub mod porcupine_kv;
pub mod sim;
pub mod txn;

pub use error::{ParseError, ParseErrorKind};
pub use event::{Event, EventType, Process};
pub use format::{load_file, parse_str, Format};
pub use name::Name;
pub use op::{
    History, HistoryBuilder, NemesisEvent, Op, OpId, Outcome, LEGACY_PRECONDITION_FAILED,
    PRECONDITION_FAILED,
};
