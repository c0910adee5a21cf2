//! Streams a transaction's value from the JSON parser straight into the history's
//! [`TxnStore`]: no JSON tree is built for the micro-ops of a completion, which are most of a
//! list-append history's bytes and most of its loading time.
//!
//! What is stored is exactly what [`TxnStore::push`] stores from the same value as JSON. A
//! value that is not a well-formed list of micro-ops is consumed and reported
//! [`Seen::Malformed`]; the caller then reads that value again as JSON so that checkers can say
//! what is wrong with it.

use super::ValueSeed;
use crate::txn::{Id, Interner, MopF, TxnRef, TxnStore};
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// What became of a txn value.
pub(super) enum Seen {
    /// Stored, here.
    Stored(TxnRef),
    /// `null`: no value (a failed transaction then keeps its invocation's).
    Null,
    /// Not a well-formed list of micro-ops: consumed, to be read again as JSON.
    Malformed,
}

/// Parses a txn value into the store.
pub(super) struct TxnSeed<'a> {
    pub store: &'a mut TxnStore,
    /// Scratch space for the rare values that are built as JSON (see [`ValueSeed`]).
    pub stack: &'a mut Vec<Value>,
}

seed_is_visitor!(TxnSeed<'_>, Seen);

fn drain_seq<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The parser gives non-negative integers as `u64`: most fit an `i64`.
fn intern_u64(interner: &mut Interner, u: u64) -> Id {
    match i64::try_from(u) {
        Ok(i) => interner.intern_i64(i),
        Err(_) => interner.intern(&Value::from(u)),
    }
}

/// Visitor methods for every JSON scalar, each giving `$v`: for seeds where anything but the
/// shapes they look for means "malformed".
macro_rules! other_scalars {
    ($t:ty, $v:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$t, E> {
            Ok($v)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$t, E> {
            Ok($v)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$t, E> {
            Ok($v)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$t, E> {
            Ok($v)
        }
        fn visit_str<E>(self, _: &str) -> Result<$t, E> {
            Ok($v)
        }
        fn visit_unit<E>(self) -> Result<$t, E> {
            Ok($v)
        }
    };
}

impl<'de> Visitor<'de> for TxnSeed<'_> {
    type Value = Seen;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of micro-ops")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Seen, E> {
        Ok(Seen::Malformed)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Seen, E> {
        Ok(Seen::Malformed)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Seen, E> {
        Ok(Seen::Malformed)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Seen, E> {
        Ok(Seen::Malformed)
    }
    fn visit_str<E>(self, _: &str) -> Result<Seen, E> {
        Ok(Seen::Malformed)
    }
    fn visit_unit<E>(self) -> Result<Seen, E> {
        Ok(Seen::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
        drain_map(&mut map)?;
        Ok(Seen::Malformed)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seen, A::Error> {
        let (mut txn, first_elem) = self.store.begin();
        loop {
            let mop = MopSeed {
                store: &mut *self.store,
                stack: &mut *self.stack,
                txn: &mut txn,
            };
            match seq.next_element_seed(mop) {
                Ok(Some(true)) => {}
                Ok(None) => break,
                Ok(Some(false)) => {
                    drain_seq(&mut seq)?;
                    self.store.abandon(txn, first_elem);
                    return Ok(Seen::Malformed);
                }
                Err(e) => {
                    self.store.abandon(txn, first_elem);
                    return Err(e);
                }
            }
        }
        if !self.store.fits() {
            self.store.abandon(txn, first_elem);
            return Ok(Seen::Malformed);
        }
        Ok(Seen::Stored(txn))
    }
}

/// One micro-op `[f, key, value]`, added to `txn`; `false` if malformed (nothing added).
struct MopSeed<'a> {
    store: &'a mut TxnStore,
    stack: &'a mut Vec<Value>,
    txn: &'a mut TxnRef,
}

seed_is_visitor!(MopSeed<'_>, bool);

impl<'de> Visitor<'de> for MopSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a micro-op [f, key, value]")
    }
    other_scalars!(bool, false);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        drain_map(&mut map)?;
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let Some(Some(f)) = seq.next_element_seed(FSeed)? else {
            drain_seq(&mut seq)?;
            return Ok(false);
        };
        let Some(Some(key)) = seq.next_element_seed(KeySeed(&mut *self.store))? else {
            drain_seq(&mut seq)?;
            return Ok(false);
        };
        let first = self.store.elem_count();
        let value = seq.next_element_seed(ValueIdSeed {
            store: &mut *self.store,
            stack: &mut *self.stack,
            list_ok: f == MopF::Read,
        })?;
        let (value, list) = match value {
            None => {
                return Ok(false);
            }
            Some(Parsed::Null) if f == MopF::Append => {
                drain_seq(&mut seq)?;
                return Ok(false);
            }
            // A write of null writes the value null; a read of null is told apart later.
            Some(Parsed::Null) if f == MopF::Write => {
                (Some(self.store.vals.intern(&Value::Null)), None)
            }
            Some(Parsed::Null) => (None, None),
            Some(Parsed::One(v)) => (Some(v), None),
            Some(Parsed::List) => (None, Some(first)),
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            drain_seq(&mut seq)?;
            return Ok(false);
        }
        self.store.add_mop(self.txn, f, key, value, list);
        Ok(true)
    }
}

/// A micro-op's function: `Some` for `"append"`, `"r"` and `"w"`.
struct FSeed;

seed_is_visitor!(FSeed, Option<MopF>);

impl<'de> Visitor<'de> for FSeed {
    type Value = Option<MopF>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a micro-op function")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<MopF>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<MopF>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<MopF>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<MopF>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<MopF>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, s: &str) -> Result<Option<MopF>, E> {
        Ok(match s {
            "append" => Some(MopF::Append),
            "r" => Some(MopF::Read),
            "w" => Some(MopF::Write),
            _ => None,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<MopF>, A::Error> {
        drain_seq(&mut seq)?;
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<MopF>, A::Error> {
        drain_map(&mut map)?;
        Ok(None)
    }
}

/// A key: a string or a number, interned; `None` for anything else.
struct KeySeed<'a>(&'a mut TxnStore);

seed_is_visitor!(KeySeed<'_>, Option<Id>);

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<Id>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<Id>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<Id>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, i: i64) -> Result<Option<Id>, E> {
        Ok(Some(self.0.keys.intern_i64(i)))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Option<Id>, E> {
        Ok(Some(intern_u64(&mut self.0.keys, u)))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Option<Id>, E> {
        Ok(Some(self.0.keys.intern(&Value::from(x))))
    }
    fn visit_str<E>(self, s: &str) -> Result<Option<Id>, E> {
        Ok(Some(self.0.keys.intern_str(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Id>, A::Error> {
        drain_seq(&mut seq)?;
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Id>, A::Error> {
        drain_map(&mut map)?;
        Ok(None)
    }
}

/// What a micro-op's value parsed to.
enum Parsed {
    Null,
    One(Id),
    /// A list whose elements were pushed to the store.
    List,
}

/// A micro-op's value, interned: a list (with `list_ok`) has its elements pushed to the store;
/// any other value, lists included, is interned as one value.
struct ValueIdSeed<'a> {
    store: &'a mut TxnStore,
    stack: &'a mut Vec<Value>,
    list_ok: bool,
}

seed_is_visitor!(ValueIdSeed<'_>, Parsed);

impl<'de> Visitor<'de> for ValueIdSeed<'_> {
    type Value = Parsed;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a micro-op value")
    }
    fn visit_unit<E>(self) -> Result<Parsed, E> {
        Ok(Parsed::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Parsed, E> {
        Ok(Parsed::One(self.store.vals.intern(&Value::Bool(b))))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Parsed, E> {
        Ok(Parsed::One(self.store.vals.intern_i64(i)))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Parsed, E> {
        Ok(Parsed::One(intern_u64(&mut self.store.vals, u)))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Parsed, E> {
        Ok(Parsed::One(self.store.vals.intern(&Value::from(x))))
    }
    fn visit_str<E>(self, s: &str) -> Result<Parsed, E> {
        Ok(Parsed::One(self.store.vals.intern_str(s)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Parsed, A::Error> {
        let v = ValueSeed(self.stack).visit_map(map)?;
        Ok(Parsed::One(self.store.vals.intern(&v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
        if !self.list_ok {
            let v = ValueSeed(self.stack).visit_seq(seq)?;
            return Ok(Parsed::One(self.store.vals.intern(&v)));
        }
        while let Some(id) = seq.next_element_seed(ElemSeed {
            store: &mut *self.store,
            stack: &mut *self.stack,
        })? {
            self.store.push_elem(id);
        }
        Ok(Parsed::List)
    }
}

/// One element of a list read, interned.
struct ElemSeed<'a> {
    store: &'a mut TxnStore,
    stack: &'a mut Vec<Value>,
}

seed_is_visitor!(ElemSeed<'_>, Id);

impl<'de> Visitor<'de> for ElemSeed<'_> {
    type Value = Id;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list element")
    }
    fn visit_i64<E>(self, i: i64) -> Result<Id, E> {
        Ok(self.store.vals.intern_i64(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Id, E> {
        Ok(intern_u64(&mut self.store.vals, u))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Id, E> {
        Ok(self.store.vals.intern(&Value::from(x)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Id, E> {
        Ok(self.store.vals.intern_str(s))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Id, E> {
        Ok(self.store.vals.intern(&Value::Bool(b)))
    }
    fn visit_unit<E>(self) -> Result<Id, E> {
        Ok(self.store.vals.intern(&Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Id, A::Error> {
        let v = ValueSeed(self.stack).visit_seq(seq)?;
        Ok(self.store.vals.intern(&v))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Id, A::Error> {
        let v = ValueSeed(self.stack).visit_map(map)?;
        Ok(self.store.vals.intern(&v))
    }
}
