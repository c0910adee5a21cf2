//! The sequential models linearizability is checked against, as a table, and model inference.
//!
//! Each model names the operation kinds (`f`) it understands; its state and step function live
//! in [`super::specs`]. When `--model` is absent the first model (in table order) that
//! understands every `f` in the history is used; `unordered-queue` is never inferred (a queue
//! history is taken as FIFO unless said otherwise).

use std::collections::BTreeSet;

/// Which sequential specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Register,
    CasRegister,
    Kv,
    Mutex,
    Set,
    FifoQueue,
    UnorderedQueue,
    MultiRegister,
}

/// One model: its name, the ops it understands, and what it means.
#[derive(Debug)]
pub struct ModelInfo {
    pub kind: ModelKind,
    pub name: &'static str,
    pub fs: &'static [&'static str],
    /// Whether independent keys (the ops' `key` field) are checked one by one.
    pub per_key: bool,
    /// Whether inference may pick it.
    pub inferable: bool,
    pub about: &'static str,
}

/// Every model, in inference order.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        kind: ModelKind::Register,
        name: "register",
        fs: &["read", "write"],
        per_key: true,
        inferable: true,
        about: "one register: a read returns the last value written (initially --initial, default null)",
    },
    ModelInfo {
        kind: ModelKind::CasRegister,
        name: "cas-register",
        fs: &["read", "write", "cas"],
        per_key: true,
        inferable: true,
        about: "a register with compare-and-set [expected, new]: ok = applied; a fail observed that the register did not hold expected only where the history's conventions say so (--fail-means)",
    },
    ModelInfo {
        kind: ModelKind::Kv,
        name: "kv",
        fs: &["get", "put", "append"],
        per_key: true,
        inferable: true,
        about: "a string value per key (Porcupine's kv): get returns it, put replaces it, append concatenates (initially \"\")",
    },
    ModelInfo {
        kind: ModelKind::Mutex,
        name: "mutex",
        fs: &["acquire", "release"],
        per_key: true,
        inferable: true,
        about: "a lock: acquire needs it free, release needs it held",
    },
    ModelInfo {
        kind: ModelKind::Set,
        name: "set",
        fs: &["add", "read"],
        per_key: true,
        inferable: true,
        about: "a set: add inserts an element, read returns every element added so far",
    },
    ModelInfo {
        kind: ModelKind::FifoQueue,
        name: "fifo-queue",
        fs: &["enqueue", "dequeue"],
        per_key: true,
        inferable: true,
        about: "a FIFO queue: dequeue returns the oldest element (null when empty)",
    },
    ModelInfo {
        kind: ModelKind::UnorderedQueue,
        name: "unordered-queue",
        fs: &["enqueue", "dequeue"],
        per_key: true,
        inferable: false,
        about: "a bag: dequeue returns any element enqueued and not yet dequeued (null when empty)",
    },
    ModelInfo {
        kind: ModelKind::MultiRegister,
        name: "multi-register",
        fs: &["txn"],
        per_key: false,
        inferable: true,
        about: "several registers updated by atomic transactions of [:read k v] and [:write k v] micro-ops (a read of null constrains nothing, as in Knossos)",
    },
];

/// The model called `name`.
pub fn by_name(name: &str) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| m.name == name)
}

/// The names of every model, for messages.
pub fn names() -> String {
    MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

/// The first inferable model that understands every f in `fs`.
pub fn infer(fs: &BTreeSet<&str>) -> Option<&'static ModelInfo> {
    MODELS
        .iter()
        .filter(|m| m.inferable)
        .find(|m| fs.iter().all(|f| m.fs.contains(f)))
}

/// True if some model understands `f`.
pub fn known_f(f: &str) -> bool {
    MODELS.iter().any(|m| m.fs.contains(&f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_the_smallest_model_that_fits() {
        let set = |xs: &[&'static str]| xs.iter().copied().collect::<BTreeSet<&str>>();
        assert_eq!(infer(&set(&["read"])).unwrap().name, "register");
        assert_eq!(infer(&set(&["read", "cas"])).unwrap().name, "cas-register");
        assert_eq!(infer(&set(&["get", "append"])).unwrap().name, "kv");
        assert_eq!(infer(&set(&["add", "read"])).unwrap().name, "set");
        assert_eq!(infer(&set(&["dequeue"])).unwrap().name, "fifo-queue");
        assert_eq!(infer(&set(&["acquire"])).unwrap().name, "mutex");
        assert_eq!(infer(&set(&["txn"])).unwrap().name, "multi-register");
        assert!(infer(&set(&["read", "enqueue"])).is_none());
        assert!(by_name("unordered-queue").is_some());
        assert!(known_f("cas") && !known_f("frobnicate"));
    }
}
