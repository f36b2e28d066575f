//! A whole-payload JSON syntax check in one loop, without recursion and without serde: the
//! fast path of [`json::check`](crate::json::check) for a payload that arrived in one piece.
//!
//! It answers only yes or no. It accepts exactly what serde_json's `IgnoredAny` accepts
//! (RFC 8259 text nested to any depth, numbers of any size, `\u` escapes not paired up); a
//! property test compares the two on random and mutated texts. On a no, the caller asks
//! serde_json again for the error's place and wording, so a wrong no would cost time, never
//! a message.

use crate::nest::Nest;
use crate::scan::{plain_run, stops_in};

/// Whether `bytes` are one JSON text, whitespace around it allowed.
#[inline]
pub(crate) fn is_json(bytes: &[u8]) -> bool {
    text(bytes).is_some()
}

/// `Some` when `b` is one JSON text.
fn text(b: &[u8]) -> Option<()> {
    let mut nest = Nest::default();
    let mut i = 0;
    'value: loop {
        // A value must come at `i`.
        i = space(b, i);
        match *b.get(i)? {
            b'{' => {
                i = space(b, i + 1);
                match *b.get(i)? {
                    b'}' => i += 1,
                    b'"' => {
                        nest.push(true);
                        i = key(b, i + 1)?;
                        continue 'value;
                    }
                    _ => return None,
                }
            }
            b'[' => {
                i = space(b, i + 1);
                if *b.get(i)? == b']' {
                    i += 1;
                } else {
                    nest.push(false);
                    continue 'value;
                }
            }
            b'"' => i = string(b, i + 1)?,
            b'-' | b'0'..=b'9' => i = number(b, i)?,
            b't' => i = word(b, i, b"true")?,
            b'f' => i = word(b, i, b"false")?,
            b'n' => i = word(b, i, b"null")?,
            _ => return None,
        }
        // After a value: the next one of its container, the container's end, or the text's.
        loop {
            i = space(b, i);
            if nest.depth() == 0 {
                return (i == b.len()).then_some(());
            }
            match (*b.get(i)?, nest.in_object()) {
                (b',', false) => {
                    i += 1;
                    continue 'value;
                }
                (b',', true) => {
                    i = space(b, i + 1);
                    if *b.get(i)? != b'"' {
                        return None;
                    }
                    i = key(b, i + 1)?;
                    continue 'value;
                }
                (b']', false) | (b'}', true) => {
                    i += 1;
                    nest.pop();
                }
                _ => return None,
            }
        }
    }
}

/// The offset after the JSON whitespace from `i` on.
#[inline(always)]
fn space(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// A key's string from after its opening quote, then its colon: the offset after the colon.
#[inline(always)]
fn key(b: &[u8], i: usize) -> Option<usize> {
    let i = space(b, string(b, i)?);
    (*b.get(i)? == b':').then_some(i + 1)
}

/// A string's body from after its opening quote: the offset after its closing quote.
#[inline(always)]
fn string(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        // Most strings are short: eight bytes at once, to the first stop in them, before the
        // blocks of a long run.
        match b.get(i..i + 8) {
            Some(word) => match stops_in(word) {
                0 => i += 8 + plain_run(b.get(i + 8..)?),
                stops => i += (stops.trailing_zeros() / 8) as usize,
            },
            None => i += plain_run(b.get(i..)?),
        }
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                i = match *b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i + 2,
                    b'u' if b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => i + 6,
                    _ => return None,
                };
            }
            // A control character.
            _ => return None,
        }
    }
}

/// A number from its first byte (`-` or a digit): the offset after it. What follows is the
/// caller's to judge (`01` fails there, on the `1`).
#[inline(always)]
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(b, i + 1),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i = some_digits(b, i + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        i = some_digits(b, i)?;
    }
    Some(i)
}

/// The offset after the digits from `i` on.
#[inline(always)]
fn digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// At least one digit from `i` on: the offset after them.
#[inline(always)]
fn some_digits(b: &[u8], i: usize) -> Option<usize> {
    let end = digits(b, i);
    (end > i).then_some(end)
}

/// `true`, `false` or `null` at `i`: the offset after it.
#[inline(always)]
fn word(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

#[cfg(test)]
mod tests {
    use super::is_json;
    use crate::json::by_serde;
    use crate::scan::tests::{CASES, PIECES};
    use alloc::string::String;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn agree(text: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            is_json(text.as_bytes()),
            by_serde(text).is_ok(),
            "{:?}",
            text
        );
        Ok(())
    }

    #[test]
    fn agrees_with_serde_json_on_the_cases() {
        for text in CASES {
            assert_eq!(is_json(text.as_bytes()), by_serde(text).is_ok(), "{text:?}");
        }
        for text in [
            "",
            " ",
            "-0",
            "-01",
            "0.",
            "1.e1",
            "1e",
            "1e+",
            "\"\\u00\"",
            "[1]]",
        ] {
            assert_eq!(is_json(text.as_bytes()), by_serde(text).is_ok(), "{text:?}");
        }
        assert!(is_json(
            br#"{"s": "\ud800", "n": 1e400, "i": 18446744073709551616}"#
        ));
    }

    /// Objects and arrays in turn, `n` of each, so that the kinds of open containers cross
    /// the 64-level words; a closer of the wrong kind at any level is refused.
    #[test]
    fn any_depth_with_the_right_closers() {
        let deep = |n: usize| "{\"a\":[".repeat(n) + &"]}".repeat(n);
        for n in [1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 50_000] {
            assert!(is_json(deep(n).as_bytes()), "{n}");
            let text = deep(n);
            // Swap one closer for the other kind, at several depths.
            for at in [0, n / 2, n.saturating_sub(1)] {
                let mut wrong = text.clone().into_bytes();
                let closer = 6 * n + 2 * at;
                wrong.swap(closer, closer + 1);
                assert!(!is_json(&wrong), "{n}, closer {at}");
            }
        }
    }

    /// A JSON value of any shape, as text, spaced or not.
    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just(String::from("null")),
            Just(String::from("true")),
            Just(String::from("false")),
            "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,4})?",
            "\"([^\"\\\\\\x00-\\x1f]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}){0,40}\"",
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8)
                    .prop_map(|v| { String::from("[") + &v.join(",") + "]" }),
                proptest::collection::vec(("\"([a-z]|\\\\\"){0,6}\"", inner), 0..8).prop_map(|v| {
                    let members: Vec<String> = v.into_iter().map(|(k, v)| k + " : " + &v).collect();
                    String::from("{ ") + &members.join(" ,\n") + "}"
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_any_text(text in ".{0,64}") {
            agree(&text)?;
        }

        #[test]
        fn agrees_with_serde_json_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            agree(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn agrees_with_serde_json_on_texts_of_json_pieces(
            parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
        ) {
            agree(&parts.concat())?;
        }

        #[test]
        fn accepts_json_and_agrees_on_its_mutations(
            text in json_text(),
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(b"{}[],:\"\\ \t0123456789-+.eEtrufalsn\x01\x7fx".to_vec()),
            how in 0u8..4,
        ) {
            prop_assert!(is_json(text.as_bytes()), "{:?}", text);
            agree(&text)?;
            let mut bytes = text.into_bytes();
            let at = at.index(bytes.len() + 1);
            match how {
                0 => bytes.insert(at, byte),
                1 if at < bytes.len() => bytes[at] = byte,
                2 if at < bytes.len() => { bytes.remove(at); }
                _ => bytes.truncate(at),
            }
            agree(&String::from_utf8_lossy(&bytes))?;
        }
    }
}
