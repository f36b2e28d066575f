//! Hands validated payloads to JavaScript in as few `JSON.parse` calls as is safe.
//!
//! `JSON.parse` has a fixed cost per call that dominates small messages, so runs of small payloads
//! are joined into one `[a,b,c]` text and parsed at once. Joining is only sound when each payload
//! is exactly one JSON value: the frames `1,2`, `[3` and `4]` each pass their CRC, yet joined they
//! parse as three values. [`is_single_value`] proves that shape (the parse itself still proves
//! validity), and JavaScript checks that a joined group parses to an array of `count` elements.
//!
//! The layout JavaScript reads after each call, all offsets absolute addresses in wasm memory:
//! - `items`: four `u32` per item: `ptr`, `len`, `count`, `first`. `count == 0` is one payload
//!   parsed alone; otherwise the item is a joined array of `count` payloads.
//! - `bounds`: two `u32` per payload (`ptr`, `len`), from `first` on, so that a group whose
//!   joint parse fails can be parsed payload by payload to find the bad one.

use alloc::vec::Vec;

/// Payloads under this many bytes are joined; larger ones are parsed alone, where joining saves
/// nothing and costs a copy.
pub const SMALL_PAYLOAD: usize = 1024;

/// The most bytes one joined group holds.
pub const GROUP_LIMIT: usize = 64 * 1024;

/// Output capacity kept between calls; more is released, since wasm memory never shrinks.
const RETAIN: usize = 64 * 1024;

/// Payloads of one call, laid out for JavaScript (see the module docs).
#[derive(Debug, Default)]
pub struct Batcher {
    /// The joined groups and the lone payloads' text.
    text: Vec<u8>,
    items: Vec<u32>,
    bounds: Vec<u32>,
    /// Where the group being filled starts in `text`, and how many payloads it holds.
    group: Option<(usize, u32)>,
}

impl Batcher {
    /// An empty batcher.
    pub const fn new() -> Self {
        Batcher {
            text: Vec::new(),
            items: Vec::new(),
            bounds: Vec::new(),
            group: None,
        }
    }

    /// Drops the previous call's output, keeping a bounded amount of capacity.
    pub fn clear(&mut self) {
        self.text.clear();
        self.items.clear();
        self.bounds.clear();
        self.group = None;
        if self.text.capacity() > RETAIN {
            self.text = Vec::new();
        }
        if self.items.capacity() > RETAIN / 4 {
            self.items = Vec::new();
            self.bounds = Vec::new();
        }
    }

    /// Adds one validated payload.
    pub fn push(&mut self, payload: &str) {
        let bytes = payload.as_bytes();
        if bytes.len() < SMALL_PAYLOAD && is_single_value(bytes) {
            if let Some((start, _)) = self.group {
                if self.text.len() - start + bytes.len() + 2 > GROUP_LIMIT {
                    self.close_group();
                }
            }
            match &mut self.group {
                Some((_, count)) => {
                    *count += 1;
                    self.text.push(b',');
                }
                None => {
                    self.group = Some((self.text.len(), 1));
                    self.text.reserve(GROUP_LIMIT.min(bytes.len() * 16 + 2));
                    self.text.push(b'[');
                }
            }
            let at = self.text.len();
            self.text.extend_from_slice(bytes);
            self.bounds.extend([at as u32, bytes.len() as u32]);
        } else {
            self.close_group();
            let at = self.text.len();
            self.text.extend_from_slice(bytes);
            let first = (self.bounds.len() / 2) as u32;
            self.bounds.extend([at as u32, bytes.len() as u32]);
            self.items.extend([at as u32, bytes.len() as u32, 0, first]);
        }
    }

    /// Ends the call's output; returns the number of items.
    pub fn finish(&mut self) -> u32 {
        self.close_group();
        self.rebase();
        (self.items.len() / 4) as u32
    }

    /// Number of payloads pushed since the last [`clear`](Self::clear).
    pub fn payloads(&self) -> usize {
        self.bounds.len() / 2
    }

    /// Address of the item table.
    pub fn items_ptr(&self) -> usize {
        self.items.as_ptr() as usize
    }

    /// Address of the bounds table.
    pub fn bounds_ptr(&self) -> usize {
        self.bounds.as_ptr() as usize
    }

    /// The text of item `i` with its count, once [`finish`](Self::finish)ed; `None` past the end.
    pub fn item(&self, i: usize) -> Option<(&[u8], u32)> {
        let entry = self.items.get(i * 4..i * 4 + 4)?;
        let start = entry[0].wrapping_sub(self.text.as_ptr() as usize as u32) as usize;
        let text = self.text.get(start..start + entry[1] as usize)?;
        Some((text, entry[2]))
    }

    fn close_group(&mut self) {
        if let Some((start, count)) = self.group.take() {
            self.text.push(b']');
            let len = self.text.len() - start;
            let first = (self.bounds.len() / 2) as u32 - count;
            self.items.extend([start as u32, len as u32, count, first]);
        }
    }

    /// Turns offsets into `text` into addresses, now that `text` will not move until the next
    /// call. Offsets fit in u32 because wasm32 addresses do.
    fn rebase(&mut self) {
        let base = self.text.as_ptr() as usize as u32;
        for item in self.items.chunks_exact_mut(4) {
            item[0] = item[0].wrapping_add(base);
        }
        for bound in self.bounds.chunks_exact_mut(2) {
            bound[0] = bound[0].wrapping_add(base);
        }
    }
}

/// True when `payload` has the shape of exactly one JSON value, so that joining it with others
/// by commas cannot change how many values there are: an object or array whose opening bracket
/// closes at its last byte, a string whose quote closes at its last byte, or a bare token
/// (number, `true`, `false`, `null`) with no separator in it; whitespace around it is allowed.
///
/// This proves shape, not validity: `JSON.parse` rejects what is malformed inside.
pub fn is_single_value(payload: &[u8]) -> bool {
    let trimmed = trim_json_ws(payload);
    let Some((&first, _)) = trimmed.split_first() else {
        return false;
    };
    match first {
        b'{' | b'[' => closes_at_end(trimmed),
        b'"' => string_end(trimmed, 1) == Some(trimmed.len()),
        _ => trimmed
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')),
    }
}

/// Whether the bracket opening `value` closes exactly at its last byte (brackets counted outside
/// strings, of either kind: a mismatch is for `JSON.parse` to reject). One plain pass: on small
/// payloads it beats searching for quotes with memchr.
fn closes_at_end(value: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut bytes = value.iter();
    while let Some(&b) = bytes.next() {
        if b == b'"' {
            // To the quote that closes the string; the byte after a backslash cannot.
            loop {
                let Some(&c) = bytes.next() else {
                    return false;
                };
                if c == b'"' {
                    break;
                }
                if c == b'\\' && bytes.next().is_none() {
                    return false;
                }
            }
            continue;
        }
        // `[`, `]`, `{` and `}` differ only in bits 1, 2 and 5, so one well-predicted test
        // passes them (and `y`, `Y`, `_`, DEL) and lets every other byte go on. Tests of the byte
        // itself compile to a jump table taken for every byte, several times slower.
        if b & 0xd9 != 0x59 {
            continue;
        }
        let folded = b | 0x20;
        if folded == b'{' {
            depth += 1;
        } else if folded == b'}' {
            // `value` opens with a bracket and the scan stops when depth returns to 0, so
            // depth is at least 1 here.
            depth -= 1;
            if depth == 0 {
                return bytes.as_slice().is_empty();
            }
        }
    }
    false
}

/// The index just past the quote that closes a string whose content starts at `from`.
fn string_end(text: &[u8], mut from: usize) -> Option<usize> {
    loop {
        match *text.get(from)? {
            b'"' => return Some(from + 1),
            b'\\' => from += 2,
            _ => from += 1,
        }
    }
}

/// `payload` without JSON whitespace around it.
fn trim_json_ws(payload: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = payload
        .iter()
        .position(|b| !is_ws(b))
        .unwrap_or(payload.len());
    let end = payload
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    &payload[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::{format, vec};

    #[test]
    fn single_values_pass() {
        for ok in [
            "1",
            "-1.5e3",
            "true",
            "null",
            "\"a,b\"",
            "\"esc \\\" ] ,\"",
            "{}",
            "[]",
            " {\"a\": [1, {\"b\": \"}\"}]} ",
            "[1, 2, 3]",
            "\"\\\\\"",
        ] {
            assert!(is_single_value(ok.as_bytes()), "{ok}");
        }
    }

    #[test]
    fn several_or_partial_values_fail() {
        for bad in [
            "",
            "  ",
            "1,2",
            "[3",
            "4]",
            "1 2",
            "{}{}",
            "[1]]",
            "[1],[2]",
            "\"a\",\"b\"",
            "\"open",
            "\"a\" 1",
            "]",
            "[\"]\"",
            "\"\\\"",
            "{\"a\":1}x",
        ] {
            assert!(!is_single_value(bad.as_bytes()), "{bad:?}");
        }
    }

    /// The scan as first written, with an index and `string_end`: the reference for the faster
    /// one.
    fn closes_at_end_indexed(value: &[u8]) -> bool {
        let mut depth = 0usize;
        let mut i = 0;
        while let Some(&b) = value.get(i) {
            i += 1;
            match b {
                b'"' => match string_end(value, i) {
                    Some(end) => i = end,
                    None => return false,
                },
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return i == value.len();
                    }
                }
                _ => {}
            }
        }
        false
    }

    #[test]
    fn the_scan_agrees_with_its_reference() {
        // Every body of up to 6 bytes over the bytes that matter and one that does not, behind
        // each opening bracket.
        let alphabet = b"\\\"{}[]a";
        let mut stack = vec![Vec::new()];
        while let Some(body) = stack.pop() {
            for open in [b'{', b'['] {
                let mut value = vec![open];
                value.extend_from_slice(&body);
                assert_eq!(
                    closes_at_end(&value),
                    closes_at_end_indexed(&value),
                    "{:?}",
                    String::from_utf8_lossy(&value)
                );
            }
            if body.len() < 6 {
                for &b in alphabet.iter() {
                    let mut next = body.clone();
                    next.push(b);
                    stack.push(next);
                }
            }
        }
    }

    fn items(b: &Batcher) -> Vec<(String, u32)> {
        (0..)
            .map_while(|i| b.item(i))
            .map(|(t, c)| (String::from_utf8(t.to_vec()).unwrap_or_default(), c))
            .collect()
    }

    #[test]
    fn small_runs_join_and_others_stand_alone() {
        let mut b = Batcher::default();
        b.push("1");
        b.push("{\"a\":2}");
        b.push("1,2");
        b.push("[3]");
        let big = format!("\"{}\"", "x".repeat(SMALL_PAYLOAD));
        b.push(&big);
        assert_eq!(b.finish(), 4);
        assert_eq!(
            items(&b),
            [
                ("[1,{\"a\":2}]".to_string(), 2),
                ("1,2".to_string(), 0),
                ("[[3]]".to_string(), 1),
                (big.clone(), 0),
            ]
        );
        assert_eq!(b.payloads(), 5);
        b.clear();
        assert_eq!(b.finish(), 0);
    }

    #[test]
    fn groups_stay_under_the_limit() {
        let mut b = Batcher::default();
        let msg = format!("\"{}\"", "y".repeat(998));
        for _ in 0..200 {
            b.push(&msg);
        }
        let n = b.finish() as usize;
        assert!(n >= 3);
        let mut total = 0;
        for i in 0..n {
            let (text, count) = b.item(i).unwrap_or_default();
            assert!(text.len() <= GROUP_LIMIT);
            total += count;
        }
        assert_eq!(total, 200);
    }
}
