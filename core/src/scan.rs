//! A resumable JSON syntax check: the bytes of a payload fed in pieces as they arrive, so that
//! a large message costs each read its own bytes rather than the read that completes it all.
//!
//! It accepts exactly what [`json::check`](crate::json::check) accepts (serde_json's rules
//! for RFC 8259 text, nested to any depth; a test and a fuzz target compare the two), works on
//! bytes (UTF-8 is the decoder's check) and builds nothing but a bit per open container. On
//! the way it notes where the members of a top-level object lie, so that a relay reads the
//! few fields it needs (a control request's) without a second pass over a large value.

use alloc::vec::Vec;
use core::ops::Range;

use crate::nest::Nest;

/// The most top-level members whose places are kept; an object with more is read the slow
/// way, by a parse of its text.
pub(crate) const MAX_MEMBERS: usize = 16;

/// Where one member of a top-level object lies in the payload: its key (quotes included) and
/// its value (without the whitespace around it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) key: Range<usize>,
    pub(crate) value: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A value must come (whitespace first is fine); `close` says a `]` may end an empty array.
    Value { close: bool },
    /// After `{`: a key or `}`.
    KeyOrEnd,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value: `,` or the container's end, or only whitespace at the top level.
    After,
    /// Inside a string; `key` when it is an object's key.
    Str { key: bool },
    /// After a backslash in a string.
    Escape { key: bool },
    /// Inside `\uXXXX`, with `left` hex digits to come.
    Unicode { key: bool, left: u8 },
    /// After a leading `-`: a digit must come.
    Minus,
    /// After a leading `0`: the integer part is over.
    Zero,
    /// In the integer part's digits.
    Int,
    /// After `.`: a digit must come.
    Dot,
    /// In the fraction's digits.
    Frac,
    /// After `e` or `E`: a sign or a digit.
    Exp,
    /// After the exponent's sign: a digit must come.
    ExpSign,
    /// In the exponent's digits.
    ExpDigits,
    /// In `true`, `false` or `null`, `at` letters in.
    Literal { word: &'static [u8], at: u8 },
    /// Not JSON; nothing more is read.
    Invalid,
}

/// What the decoder's JSON check found of a payload it gathered across chunks, made as the
/// bytes arrived: handed to [`FromPayload::from_scanned`](crate::FromPayload::from_scanned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// Whether the payload is one JSON text.
    pub(crate) valid: bool,
    /// The members of a top-level object, when the payload is one with at most
    /// [`MAX_MEMBERS`] of them.
    pub(crate) members: Option<Vec<Member>>,
}

/// The scan of one payload under way.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    state: State,
    /// The open containers.
    nest: Nest,
    /// Bytes fed so far: the offset of the next one in the payload.
    pos: usize,
    /// The top-level value is an object, its members are kept, and these are they.
    members: Option<Vec<Member>>,
    /// Where the key and the value of the top-level member being read began.
    key_start: usize,
    key_end: usize,
    value_start: usize,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::Value { close: false },
            nest: Nest::default(),
            pos: 0,
            members: None,
            key_start: 0,
            key_end: 0,
            value_start: 0,
        }
    }
}

impl Scanner {
    /// Reads the next bytes of the payload.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if self.state == State::Invalid {
                return;
            }
            if let State::Str { key } = self.state {
                // The bulk of a large message: skip to the next byte a string cares about.
                let run = plain_run(&bytes[i..]);
                i += run;
                let Some(&b) = bytes.get(i) else { break };
                self.state = match b {
                    b'"' => {
                        self.end_string(key, self.pos + i + 1);
                        if key {
                            State::Colon
                        } else {
                            State::After
                        }
                    }
                    b'\\' => State::Escape { key },
                    // A control character.
                    _ => State::Invalid,
                };
                i += 1;
                continue;
            }
            self.step(bytes[i], self.pos + i);
            i += 1;
        }
        self.pos += bytes.len();
    }

    /// The verdict once every byte has been fed.
    pub(crate) fn finish(mut self) -> Scanned {
        // A number at the end of the text ends there.
        if self.in_number() {
            if matches!(
                self.state,
                State::Zero | State::Int | State::Frac | State::ExpDigits
            ) {
                self.state = State::After;
                self.end_value(self.pos);
            } else {
                self.state = State::Invalid;
            }
        }
        let valid = self.state == State::After && self.nest.depth() == 0;
        Scanned {
            valid,
            members: if valid { self.members } else { None },
        }
    }

    fn in_number(&self) -> bool {
        matches!(
            self.state,
            State::Minus
                | State::Zero
                | State::Int
                | State::Dot
                | State::Frac
                | State::Exp
                | State::ExpSign
                | State::ExpDigits
        )
    }

    /// One byte outside a string's plain run, at offset `at` of the payload.
    fn step(&mut self, b: u8, at: usize) {
        let ws = matches!(b, b' ' | b'\n' | b'\t' | b'\r');
        self.state = match self.state {
            State::Value { close } => match b {
                _ if ws => self.state,
                b']' if close => return self.close(false, at),
                _ => return self.begin_value(b, at),
            },
            State::KeyOrEnd => match b {
                _ if ws => self.state,
                b'"' => self.begin_key(at),
                b'}' => return self.close(true, at),
                _ => State::Invalid,
            },
            State::Key => match b {
                _ if ws => self.state,
                b'"' => self.begin_key(at),
                _ => State::Invalid,
            },
            State::Colon => match b {
                _ if ws => self.state,
                b':' => State::Value { close: false },
                _ => State::Invalid,
            },
            State::After => return self.after(b, ws, at),
            State::Str { .. } => State::Invalid,
            State::Escape { key } => match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => State::Str { key },
                b'u' => State::Unicode { key, left: 4 },
                _ => State::Invalid,
            },
            State::Unicode { key, left } => match (b.is_ascii_hexdigit(), left) {
                (false, _) => State::Invalid,
                (true, 1) => State::Str { key },
                (true, _) => State::Unicode {
                    key,
                    left: left - 1,
                },
            },
            State::Minus => match b {
                b'0' => State::Zero,
                b'1'..=b'9' => State::Int,
                _ => State::Invalid,
            },
            State::Zero | State::Int if b == b'.' => State::Dot,
            State::Zero | State::Int | State::Frac if matches!(b, b'e' | b'E') => State::Exp,
            State::Int if b.is_ascii_digit() => State::Int,
            State::Dot | State::Frac if b.is_ascii_digit() => State::Frac,
            State::Exp if matches!(b, b'+' | b'-') => State::ExpSign,
            State::Exp | State::ExpSign | State::ExpDigits if b.is_ascii_digit() => {
                State::ExpDigits
            }
            State::Zero | State::Int | State::Frac | State::ExpDigits => {
                // The number ended before this byte, which comes after it.
                self.end_value(at);
                return self.after(b, ws, at);
            }
            State::Dot | State::Exp | State::ExpSign => State::Invalid,
            State::Literal { word, at: done } => {
                let next = usize::from(done);
                if word.get(next) != Some(&b) {
                    State::Invalid
                } else if next + 1 == word.len() {
                    self.end_value(at + 1);
                    State::After
                } else {
                    State::Literal { word, at: done + 1 }
                }
            }
            State::Invalid => State::Invalid,
        };
    }

    /// The first byte of a value.
    fn begin_value(&mut self, b: u8, at: usize) {
        if self.nest.depth() == 1 {
            self.value_start = at;
        }
        self.state = match b {
            b'{' => {
                if self.nest.depth() == 0 {
                    self.members = Some(Vec::new());
                }
                self.nest.push(true);
                State::KeyOrEnd
            }
            b'[' => {
                self.nest.push(false);
                State::Value { close: true }
            }
            b'"' => State::Str { key: false },
            b'-' => State::Minus,
            b'0' => State::Zero,
            b'1'..=b'9' => State::Int,
            b't' => State::Literal {
                word: b"true",
                at: 1,
            },
            b'f' => State::Literal {
                word: b"false",
                at: 1,
            },
            b'n' => State::Literal {
                word: b"null",
                at: 1,
            },
            _ => State::Invalid,
        };
    }

    fn begin_key(&mut self, at: usize) -> State {
        if self.nest.depth() == 1 {
            self.key_start = at;
        }
        State::Str { key: true }
    }

    /// A string's closing quote, `end` past it.
    fn end_string(&mut self, key: bool, end: usize) {
        if key {
            if self.nest.depth() == 1 {
                self.key_end = end;
            }
        } else {
            self.end_value(end);
        }
    }

    /// After a complete value: `,`, a closing bracket, or whitespace.
    fn after(&mut self, b: u8, ws: bool, at: usize) {
        self.state = match b {
            _ if ws => State::After,
            _ if self.nest.depth() == 0 => State::Invalid,
            b',' if self.nest.in_object() => State::Key,
            b',' => State::Value { close: false },
            b'}' if self.nest.in_object() => return self.close(true, at),
            b']' if !self.nest.in_object() => return self.close(false, at),
            _ => State::Invalid,
        };
    }

    /// A closing bracket at `at` of the innermost container (an object if `object`).
    fn close(&mut self, object: bool, at: usize) {
        if self.nest.depth() == 0 || self.nest.in_object() != object {
            self.state = State::Invalid;
            return;
        }
        self.nest.pop();
        self.state = State::After;
        self.end_value(at + 1);
    }

    /// A value ended at `end`: a member of the top-level object if it was at depth 1.
    fn end_value(&mut self, end: usize) {
        if self.nest.depth() != 1 || !self.nest.in_object() {
            return;
        }
        let member = Member {
            key: self.key_start..self.key_end,
            value: self.value_start..end,
        };
        if let Some(members) = &mut self.members {
            if members.len() < MAX_MEMBERS {
                members.push(member);
            } else {
                self.members = None;
            }
        }
    }
}

/// How many bytes at the start of `bytes` a string passes over: none is `"`, `\` or a control
/// character. Thirty-two at a time while none of them stops it (the long strings of a large
/// message: about 2-3x the speed of eight at a time), then eight, then one.
pub(crate) fn plain_run(bytes: &[u8]) -> usize {
    let mut i = 0;
    for block in bytes.chunks_exact(32) {
        let hit = block
            .chunks_exact(8)
            .fold(0, |found, chunk| found | stops_in(chunk));
        if hit != 0 {
            break;
        }
        i += 32;
    }
    for chunk in bytes[i..].chunks_exact(8) {
        if stops_in(chunk) != 0 {
            break;
        }
        i += 8;
    }
    let stops = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
    i + bytes[i..]
        .iter()
        .position(|&b| stops(b))
        .unwrap_or(bytes.len() - i)
}

/// Non-zero when one of eight bytes is below 0x20, or equal to `"` or `\` (as serde_json
/// finds them): each such byte sets its high bit. The lowest bit set is exact (a borrow only
/// carries upward, past the first such byte).
#[inline(always)]
pub(crate) fn stops_in(chunk: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    let w = u64::from_le_bytes(word);
    (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
        | zero_in(w ^ (ONES * u64::from(b'"')))
        | zero_in(w ^ (ONES * u64::from(b'\\')))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::string::String;

    fn scan_in(text: &str, piece: usize) -> Scanned {
        let mut s = Scanner::default();
        for chunk in text.as_bytes().chunks(piece.max(1)) {
            s.feed(chunk);
        }
        s.finish()
    }

    pub(crate) const CASES: &[&str] = &[
        "",
        " ",
        "1",
        "-",
        "-0",
        "01",
        "1.",
        "1.5",
        "1e",
        "1e+",
        "1E-7",
        "-0.0e00",
        "1 2",
        "[]",
        "[ ]",
        "[1,]",
        "[,1]",
        "[1,2]",
        "{}",
        "{ }",
        "{\"a\":1}",
        "{\"a\" 1}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{1:2}",
        "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}",
        "\"\\u12G4\"",
        "\"\\u00e9\"",
        "\"\\x\"",
        "\"a\u{1}\"",
        "\"\u{7f}é\"",
        "true",
        "tru",
        "truex",
        "nul",
        "null ",
        " false\n",
        "[true,false,null]",
        "[1}",
        "{\"a\":1]",
        "]",
        "}",
        "{\"a\":1}}",
        "\"abcdefghijklmnopqrstuvwxyz\\\"0123456789\"",
        "[-]",
        "[-a]",
        "[1e5,2E+3,3e-2]",
        "{\"k\\\"ey\":\"v\"}",
        "[\"\t\"]",
        "1\u{a0}",
    ];

    #[test]
    fn agrees_with_serde_json_at_every_split() {
        for text in CASES {
            let want = crate::json::by_serde(text).is_ok();
            for piece in 1..=text.len().max(1) {
                assert_eq!(
                    scan_in(text, piece).valid,
                    want,
                    "{text:?} in pieces of {piece}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Texts built from JSON's own pieces, so that most are nearly JSON, in random pieces.
        #[test]
        fn agrees_with_serde_json_on_random_texts(
            parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
            piece in 1usize..9,
        ) {
            let text: String = parts.concat();
            let want = crate::json::by_serde(&text).is_ok();
            proptest::prop_assert_eq!(scan_in(&text, piece).valid, want, "{:?}", text);
        }
    }

    pub(crate) const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\n",
        "\"",
        "\"k\"",
        "\"s\\\"x\"",
        "\\u00e9",
        "\\",
        "0",
        "1",
        "-",
        ".",
        "e",
        "E",
        "+",
        "12",
        "true",
        "fals",
        "e",
        "null",
        "n",
        "\u{1}",
        "é",
        "\"\\u12",
        "a",
    ];

    #[test]
    fn any_depth() {
        let deep =
            |n: usize| "[".repeat(n) + &"{\"a\":[".repeat(n) + &"]}".repeat(n) + &"]".repeat(n);
        assert!(scan_in(&deep(10_000), 7).valid);
        assert!(!scan_in(&deep(300)[1..], 7).valid);
    }

    #[test]
    fn top_level_members() {
        let text = r#" { "a" : 1 , "b\"":[1,{"x":2}],"c":"s", "d":null,"e":-1.5e3} "#;
        for piece in 1..=text.len() {
            let scanned = scan_in(text, piece);
            let members = scanned.members.unwrap_or_default();
            let read: Vec<(&str, &str)> = members
                .iter()
                .map(|m| (&text[m.key.clone()], &text[m.value.clone()]))
                .collect();
            assert_eq!(
                read,
                [
                    ("\"a\"", "1"),
                    ("\"b\\\"\"", "[1,{\"x\":2}]"),
                    ("\"c\"", "\"s\""),
                    ("\"d\"", "null"),
                    ("\"e\"", "-1.5e3"),
                ],
                "pieces of {piece}"
            );
        }
        let many: String = (0..=MAX_MEMBERS)
            .map(|i| alloc::format!(",\"k{i}\":{i}"))
            .collect();
        let many = alloc::format!("{{\"x\":0{many}}}");
        assert!(scan_in(&many, 5).valid);
        assert_eq!(scan_in(&many, 5).members, None);
        assert_eq!(scan_in("[1]", 1).members, None);
    }

    #[test]
    fn plain_runs_stop_where_a_string_does() {
        let text = b"abcdefghijklmnop\"qrstuvwxyz";
        for start in 0..text.len() {
            let want = text[start..]
                .iter()
                .position(|&b| b == b'"')
                .unwrap_or(text.len() - start);
            assert_eq!(plain_run(&text[start..]), want);
        }
        assert_eq!(plain_run(b"0123456789\x1f"), 10);
        assert_eq!(plain_run(b"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\\"), 8);
        assert_eq!(plain_run(b"abc"), 3);
    }

    /// Every stopping byte is found wherever it lies in a long run (in a 32-byte block, in an
    /// 8-byte word after the blocks, in the tail), and bytes next to them in value are not.
    #[test]
    fn long_plain_runs_stop_at_every_stopping_byte() {
        for len in [0usize, 7, 8, 31, 32, 33, 64, 100] {
            let mut text: Vec<u8> = (0..len).map(|i| b" ~\x7f\x80\xff!#["[i % 8]).collect();
            assert_eq!(plain_run(&text), len, "none stops in {len}");
            for at in 0..len {
                for stop in [b'"', b'\\', 0x00, 0x1f] {
                    let kept = text[at];
                    text[at] = stop;
                    assert_eq!(plain_run(&text), at, "{stop:#x} at {at} of {len}");
                    text[at] = kept;
                }
            }
        }
    }
}
