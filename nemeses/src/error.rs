//! The crate's typed error: what failed, on which resource, and what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An external command (`ip`, `iptables`, `tc`) failed.
    #[error("`{command}` failed (exit {code:?}): {stderr}")]
    Command {
        command: String,
        code: Option<i32>,
        stderr: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A state file line that cannot be read back.
    #[error("{path}:{line}: {problem}")]
    StateFile {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    /// The machine cannot do what was asked (missing root, kernel feature, tool).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Traffic that should flow does not (e.g. the host FORWARD chain drops bridged packets).
    #[error("connectivity: {0}")]
    Connectivity(String),
    /// A request that makes no sense (unknown node, bad pattern, bad option).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A node's control API refused or did not answer.
    #[error("node {node}: {problem}")]
    Node { node: usize, problem: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
