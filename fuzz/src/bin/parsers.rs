//! Every history parser on the same input: JSONL, Jepsen EDN, Jepsen log, Porcupine kv, and the
//! format detection in front of them. A parser may reject the input with an error; it must
//! never panic, abort or recurse without bound.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        for format in [
            history::Format::Jsonl,
            history::Format::Edn,
            history::Format::JepsenLog,
            history::Format::PorcupineKv,
        ] {
            let _ = history::parse_str("fuzz", text, Some(format));
        }
        let _ = history::parse_str("fuzz", text, None);
    });
}
