//! The frame decoder: bytes in any chunking, validated payloads out.

use alloc::vec::Vec;
use serde::Deserialize;

use crate::dialect::{sniff, Dialect, DialectMode, Sniffed};
use crate::error::RemoteError;
use crate::frame::{check_crc, check_start, utf8, Header, DEFAULT_MAX_MESSAGE_SIZE};
use crate::scan::{Scanned, Scanner};

/// Buffer capacity a decoder or connection keeps after a message; more is released.
pub const DEFAULT_RETAIN_CAPACITY: usize = 2048;

/// How a [`Decoder`] reads: limit, accepted dialects, buffer retention.
///
/// ```
/// use jsocket_core::{Dialect, DialectMode, DecoderConfig};
/// let config = DecoderConfig::default()
///     .max_message_size(64 * 1024)
///     .dialect(DialectMode::Fixed(Dialect::V1));
/// assert_eq!(config.get_max_message_size(), 65536);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConfig {
    max_message_size: u32,
    dialect: DialectMode,
    prefer_little_endian: bool,
    retain_capacity: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            dialect: DialectMode::Auto,
            prefer_little_endian: false,
            retain_capacity: DEFAULT_RETAIN_CAPACITY,
        }
    }
}

impl DecoderConfig {
    /// Largest payload accepted (default 10 MiB, as jsocket). Checked on the header, before any of
    /// the payload is buffered.
    #[must_use]
    pub const fn max_message_size(mut self, max: u32) -> Self {
        self.max_message_size = max;
        self
    }

    /// Which dialects are accepted (default: detect from the first frame).
    #[must_use]
    pub const fn dialect(mut self, mode: DialectMode) -> Self {
        self.dialect = mode;
        self
    }

    /// When detecting, read a first length that fits the limit in both byte orders as
    /// little-endian (the 2011 original) rather than big-endian (jsocket 1.x). Default false.
    #[must_use]
    pub const fn prefer_little_endian(mut self, yes: bool) -> Self {
        self.prefer_little_endian = yes;
        self
    }

    /// Buffer capacity kept for the next frame once one is done (default 2 KiB); a larger buffer
    /// left by a large message is released.
    #[must_use]
    pub const fn retain_capacity(mut self, bytes: usize) -> Self {
        self.retain_capacity = bytes;
        self
    }

    /// The configured payload limit.
    pub const fn get_max_message_size(&self) -> u32 {
        self.max_message_size
    }

    /// The configured dialect mode.
    pub const fn get_dialect(&self) -> DialectMode {
        self.dialect
    }

    /// The configured buffer retention.
    pub const fn get_retain_capacity(&self) -> usize {
        self.retain_capacity
    }

    /// Whether an ambiguous first length is read as little-endian.
    pub const fn get_prefer_little_endian(&self) -> bool {
        self.prefer_little_endian
    }
}

/// One validated payload: its frame was complete, within the limit, its CRC (v2) matched and it
/// is UTF-8. Whether it is JSON is decided by whoever parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload<'a> {
    text: &'a str,
    /// The JSON check of a payload gathered across chunks, made as its bytes arrived.
    scanned: Option<&'a Scanned>,
    /// The CRC-32 of `text`'s bytes, as its v2 header gave it and the decoder checked it.
    crc: Option<u32>,
}

impl<'a> Payload<'a> {
    /// The payload as text.
    pub const fn as_str(&self) -> &'a str {
        self.text
    }

    /// The payload's bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Parses the payload as one JSON value of type `T` (which may borrow from the payload),
    /// by serde_json's rules (see [`Json`](crate::Json) for what they mean for a `Value` inside
    /// `T`).
    pub fn json<T: Deserialize<'a>>(&self) -> Result<T, RemoteError> {
        serde_json::from_str(self.text)
            .map_err(|e| crate::json::unsupported_or_invalid(self.text, &e))
    }

    /// What the JSON check made as the payload arrived found, if the decoder made one.
    pub(crate) const fn scanned(&self) -> Option<&'a Scanned> {
        self.scanned
    }

    /// The CRC-32 of the payload's bytes, when its frame carried one (v2) and it matched.
    pub const fn crc(&self) -> Option<u32> {
        self.crc
    }

    /// Parses the payload as a [`serde_json::Value`], with this crate's own visitor
    /// ([`json::parse_value`](crate::json::parse_value)).
    pub fn value(&self) -> Result<serde_json::Value, RemoteError> {
        crate::json::parse_value(self.text)
    }
}

/// Turns a byte stream, in chunks of any size, into validated payloads.
///
/// A frame that arrives whole inside one chunk is handed out as a slice of that chunk, without a
/// copy; only a frame split across chunks is gathered in a buffer, which grows with the bytes that
/// really arrive (never by the announced length alone) and is released after a large frame.
///
/// After a framing error every call returns that error again. An intact frame whose payload is
/// not UTF-8 costs that frame only: the call returns [`RemoteError::InvalidUtf8`] (not
/// [fatal](RemoteError::is_fatal)) and the next goes on with the next frame. In v1 and v1-le,
/// whose header is a bare length, a payload that begins with a byte no JSON text begins with is
/// a framing error ([`RemoteError::NotJsonStart`]) as soon as that byte arrives: noise is
/// refused at once rather than buffered and waited on.
///
/// ```
/// use jsocket_core::{Decoder, DecoderConfig};
/// let wire = b"JSN1\x00\x00\x00\x02\x32\x24\xb0\x8842JSN1\x00\x00\x00\x02\xa3\xa6\xbf\x43{}";
/// let mut decoder = Decoder::new(DecoderConfig::default());
/// let mut values = Vec::new();
/// for chunk in wire.chunks(5) {
///     let mut input = chunk;
///     while let Some(payload) = decoder.decode(&mut input)? {
///         values.push(payload.value()?);
///     }
/// }
/// decoder.finish()?;
/// assert_eq!(values, [serde_json::json!(42), serde_json::json!({})]);
/// # Ok::<(), jsocket_core::RemoteError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    config: DecoderConfig,
    /// The dialect in force: fixed by the config or detected from the first frame.
    dialect: Option<Dialect>,
    /// The bytes received so far of a frame that did not arrive whole in one chunk.
    buf: Vec<u8>,
    /// The header of the frame in `buf`, once complete and checked.
    header: Option<Header>,
    /// `buf` holds a complete frame handed out by the last call; it is dropped on the next one.
    handed_out: bool,
    /// The framing error that ended the stream, returned by every later call.
    error: Option<RemoteError>,
    /// Keep a grown buffer after a frame instead of shrinking it to the retained capacity; its
    /// owner frees it with [`release`](Self::release) (a connection does once it is quiet).
    keep_grown: bool,
    /// Check a gathered payload's JSON syntax as its bytes arrive (see [`Self::scan_json`]).
    scan_json: bool,
    /// That check, under way for the frame in `buf`.
    scanner: Option<Scanner>,
    /// The CRC32 of the payload bytes of the frame in `buf` so far (v2).
    crc: u32,
    /// Payload bytes of the frame in `buf` that the CRC and the scan have read.
    payload_fed: usize,
    /// Its verdict on the frame handed out last.
    scanned: Option<Scanned>,
}

impl Decoder {
    /// A decoder with this configuration.
    pub fn new(config: DecoderConfig) -> Self {
        let dialect = match config.dialect {
            DialectMode::Auto => None,
            DialectMode::Fixed(d) => Some(d),
        };
        Decoder {
            config,
            dialect,
            buf: Vec::new(),
            header: None,
            handed_out: false,
            error: None,
            keep_grown: false,
            scan_json: false,
            scanner: None,
            crc: 0,
            payload_fed: 0,
            scanned: None,
        }
    }

    /// Checks the JSON syntax of a payload that arrives in pieces as each piece arrives (default
    /// off), so that no one call pays for all of a large payload; the verdict goes with the
    /// payload to [`FromPayload::from_scanned`](crate::FromPayload::from_scanned).
    pub(crate) fn scan_json(&mut self, yes: bool) {
        self.scan_json = yes;
    }

    /// Keeps a buffer grown for a large frame after the frame is done (default: shrunk at
    /// once to the configured retained capacity), so that back-to-back large frames do not
    /// free and allocate it again. Call [`release`](Self::release) to free it.
    pub fn keep_grown_buffer(&mut self, keep: bool) {
        self.keep_grown = keep;
    }

    /// Frees the gathering buffer unless it holds part of a frame still to come. (A payload
    /// handed out by the last call is done with by then: it borrowed the decoder.)
    pub fn release(&mut self) {
        if self.buffered() == 0 {
            self.handed_out = false;
            self.header = None;
            self.buf = Vec::new();
            self.scanner = None;
            self.scanned = None;
        }
    }

    /// Decodes the next frame from `input`, advancing `input` past the bytes it used.
    ///
    /// Returns `Ok(None)` once `input` is used up without completing a frame (its bytes are kept
    /// for the next call), and an error for a malformed frame. Call it until it returns `Ok(None)`
    /// or a [fatal](RemoteError::is_fatal) error (a payload that is not UTF-8 is not one: its
    /// frame is used up, and the next call goes on after it).
    #[inline(always)]
    pub fn decode<'o, 'i: 'o>(
        &'o mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<Payload<'o>>, RemoteError> {
        // A frame that lies whole in `input` is handed out inline, so that the caller keeps
        // the payload in registers; everything else goes out of line.
        if self.error.is_none() && !self.handed_out && self.buf.is_empty() {
            let whole = self.decode_whole(input);
            if !matches!(whole, Ok(None)) {
                return whole;
            }
            // Not whole: gathered, without trying the fast path a second time.
            return self.decode_buffered(input);
        }
        self.decode_rest(input)
    }

    /// [`decode`](Self::decode) past its fast path.
    #[inline(never)]
    fn decode_rest<'o, 'i: 'o>(
        &'o mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<Payload<'o>>, RemoteError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.handed_out {
            self.handed_out = false;
            self.header = None;
            self.scanned = None;
            self.buf.clear();
            if !self.keep_grown && self.buf.capacity() > self.config.retain_capacity {
                self.buf = Vec::new();
            }
        }
        if self.buf.is_empty() {
            // Returned as it is, not unwrapped and rewrapped: the result is then written once,
            // in place, rather than stored and reloaded (a stall on the reload).
            let whole = self.decode_whole(input);
            if !matches!(whole, Ok(None)) {
                return whole;
            }
        }
        self.decode_buffered(input)
    }

    /// Reports the end of the stream: an error if it ended inside a frame.
    pub fn finish(&mut self) -> Result<(), RemoteError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.buffered() == 0 {
            return Ok(());
        }
        let expected = match (self.dialect, self.header) {
            (Some(d), Some(h)) => d.header_len().saturating_add(h.len as usize),
            (Some(d), None) => d.header_len(),
            // Four bytes, or five to tell a v1 length from noise.
            (None, _) if self.buf.len() >= 4 => 5,
            (None, _) => 4,
        };
        let e = RemoteError::Truncated {
            received: self.buf.len(),
            expected,
        };
        self.error = Some(e.clone());
        Err(e)
    }

    /// The dialect of the stream, once fixed or detected.
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    /// Bytes held of a frame not yet complete (0 between frames).
    pub fn buffered(&self) -> usize {
        if self.handed_out {
            0
        } else {
            self.buf.len()
        }
    }

    /// Capacity of the internal buffer, for memory accounting.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The framing error that ended this stream, if any.
    pub fn error(&self) -> Option<&RemoteError> {
        self.error.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// The fast path: a frame that lies whole in `input` is checked and handed out in place.
    /// Returns `Ok(None)`, consuming nothing, when `input` does not hold a whole frame.
    #[inline(always)]
    fn decode_whole<'i>(
        &mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<Payload<'i>>, RemoteError> {
        let whole: &'i [u8] = input;
        let dialect = match self.dialect {
            Some(d) => d,
            None => match self.detect(whole)? {
                Some(d) => d,
                None => return Ok(None),
            },
        };
        let header_len = dialect.header_len();
        let Some(head) = whole.get(..header_len) else {
            return Ok(None);
        };
        let header = self.check(Header::parse(dialect, head, self.config.max_message_size))?;
        let end = header_len.saturating_add(header.len as usize);
        let Some(payload) = whole.get(header_len..end) else {
            // Noise is refused on its first byte, not once the length it gave has arrived.
            let start = whole.get(header_len..).unwrap_or_default();
            self.check(check_start(dialect, start))?;
            return Ok(None);
        };
        self.check(check_start(dialect, payload))?;
        self.check(check_crc(header, payload))?;
        // Past here the frame is used up, whatever its payload.
        *input = &whole[end..];
        let text = utf8(payload)?;
        Ok(Some(Payload {
            text,
            scanned: None,
            crc: header.crc,
        }))
    }

    /// The slow path: gathers a frame split across chunks in `buf`.
    #[inline(never)]
    fn decode_buffered<'o>(
        &'o mut self,
        input: &mut &[u8],
    ) -> Result<Option<Payload<'o>>, RemoteError> {
        let dialect = match self.dialect {
            Some(d) => d,
            None => {
                // Four bytes, and a fifth (the first of a payload that is not empty) for a v1
                // length: never more, which might belong to the next frame.
                self.gather(input, 4);
                if self.buf.len() == 4 && self.buf != [0; 4] {
                    self.gather(input, 5);
                }
                let head = core::mem::take(&mut self.buf);
                let detected = self.detect(&head);
                self.buf = head;
                match detected? {
                    Some(d) => d,
                    None => return Ok(None),
                }
            }
        };
        let header_len = dialect.header_len();
        let header = match self.header {
            Some(h) => h,
            None => {
                self.gather(input, header_len);
                if self.buf.len() < header_len {
                    return Ok(None);
                }
                let parsed = Header::parse(
                    dialect,
                    &self.buf[..header_len],
                    self.config.max_message_size,
                );
                let h = self.check(parsed)?;
                self.header = Some(h);
                self.scanner = self.scan_json.then(Scanner::default);
                self.crc = 0;
                self.payload_fed = 0;
                h
            }
        };
        let end = header_len.saturating_add(header.len as usize);
        self.gather(input, end);
        let start = self.buf.get(header_len..).unwrap_or_default();
        if let Err(e) = check_start(dialect, start) {
            return self.check(Err(e));
        }
        // Each piece is checked as it arrives, so that no one call pays for a whole large payload.
        let new = self
            .buf
            .get(header_len.saturating_add(self.payload_fed)..)
            .unwrap_or_default();
        if header.crc.is_some() {
            self.crc = crate::crc::update(self.crc, new);
        }
        if let Some(scanner) = &mut self.scanner {
            scanner.feed(new);
        }
        self.payload_fed += new.len();
        if self.buf.len() < end {
            return Ok(None);
        }
        if let Some(expected) = header.crc.filter(|&expected| expected != self.crc) {
            let actual = self.crc;
            return self.check(Err(RemoteError::CrcMismatch { expected, actual }));
        }
        // The frame is done with, whatever its payload: the next call starts a new one.
        self.handed_out = true;
        self.scanned = self.scanner.take().map(Scanner::finish);
        let text = utf8(&self.buf[header_len..end])?;
        Ok(Some(Payload {
            text,
            scanned: self.scanned.as_ref(),
            crc: header.crc,
        }))
    }

    /// Detects the dialect from the stream's first bytes; `Ok(None)` while fewer than four arrived.
    fn detect(&mut self, first: &[u8]) -> Result<Option<Dialect>, RemoteError> {
        let sniffed = sniff(
            first,
            self.config.max_message_size,
            self.config.prefer_little_endian,
        );
        match sniffed {
            Sniffed::NeedMore => Ok(None),
            Sniffed::Jsocket(d) => {
                self.dialect = Some(d);
                Ok(Some(d))
            }
            Sniffed::Http | Sniffed::Tls | Sniffed::Unknown => {
                let mut found = [0; 4];
                found.copy_from_slice(&first[..4]);
                self.check(Err(RemoteError::UnknownHeader { found }))
            }
        }
    }

    /// Records a framing error so that every later call reports it. Inlined, so that an `Ok`
    /// stays in registers: passed through memory, it was read back wider than it was written,
    /// and the load waited for the stores (a tenth of a small frame's time in the core).
    #[inline(always)]
    fn check<T>(&mut self, result: Result<T, RemoteError>) -> Result<T, RemoteError> {
        result.map_err(|e| self.record(e))
    }

    #[cold]
    fn record(&mut self, e: RemoteError) -> RemoteError {
        self.error = Some(e.clone());
        e
    }

    /// Moves bytes from `input` into `buf` until `buf` holds `upto` bytes or `input` is empty.
    /// Capacity grows geometrically but never past `upto`, the size of the frame being gathered.
    fn gather(&mut self, input: &mut &[u8], upto: usize) {
        let take = upto.saturating_sub(self.buf.len()).min(input.len());
        if take == 0 {
            return;
        }
        let needed = self.buf.len() + take;
        if needed > self.buf.capacity() {
            let target = needed.max(self.buf.capacity().saturating_mul(2)).min(upto);
            self.buf.reserve_exact(target - self.buf.len());
        }
        let (now, later) = input.split_at(take);
        self.buf.extend_from_slice(now);
        *input = later;
    }
}
