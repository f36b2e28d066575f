//! The pure codec for pages that bring their own transport: frames out, validated payloads in.

use alloc::string::String;
use alloc::vec::Vec;
use jsocket_core::{Decoder, DecoderConfig, Encoder, RemoteError};
use wasm_bindgen::prelude::*;

use crate::batch::Batcher;
use crate::{error, options};

/// Frames an already serialised JSON payload (UTF-8 bytes, `JSON.stringify` output) in
/// `dialect` (`"v2"`, `"v1"` or `"v1-le"`). Throws an `Error` of kind `oversize` over the limit.
#[wasm_bindgen(js_name = encodeRaw)]
pub fn encode_raw(
    payload: &[u8],
    dialect: &str,
    max_message_size: Option<u32>,
) -> Result<Vec<u8>, JsValue> {
    let encoder = Encoder::new(options::dialect(dialect)?)
        .max_message_size(options::max_message_size(max_message_size)?);
    let mut out = Vec::new();
    encoder
        .encode_raw(payload, &mut out)
        .map_err(|e| error::local(&e))?;
    Ok(out)
}

/// A frame decoder: bytes in any chunking in, validated payloads out, laid out for
/// `JSON.parse` (see the `batch` module). The JavaScript `Decoder` wraps it.
#[wasm_bindgen]
pub struct RawDecoder {
    decoder: Decoder,
    batch: Batcher,
    /// The framing error met by the last `push`, not yet reported.
    failure: Option<RemoteError>,
    /// The error that ended the stream. The JavaScript `Decoder` ends a stream on any error,
    /// invalid UTF-8 in an intact frame included (which the core's decoder would go on after).
    ended: Option<RemoteError>,
}

#[wasm_bindgen]
impl RawDecoder {
    /// A decoder accepting `dialect` (`"auto"` to detect it from the first frame) and payloads
    /// up to `max_message_size` bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(dialect: &str, max_message_size: Option<u32>) -> Result<RawDecoder, JsValue> {
        let config = DecoderConfig::default()
            .dialect(options::dialect_mode(dialect)?)
            .max_message_size(options::max_message_size(max_message_size)?);
        Ok(RawDecoder {
            decoder: Decoder::new(config),
            batch: Batcher::default(),
            failure: None,
            ended: None,
        })
    }

    /// Decodes a chunk; returns how many items it laid out. A framing error stops the stream:
    /// the payloads before it are still laid out, and [`take_failure`](Self::take_failure)
    /// returns the error (as does every later call).
    pub fn push(&mut self, chunk: &[u8]) -> u32 {
        self.batch.clear();
        if let Some(e) = &self.ended {
            self.failure = Some(e.clone());
            return self.batch.finish();
        }
        let mut input = chunk;
        loop {
            match self.decoder.decode(&mut input) {
                Ok(Some(payload)) => self.batch.push(payload.as_str()),
                Ok(None) => break,
                Err(e) => {
                    self.ended = Some(e.clone());
                    self.failure = Some(e);
                    break;
                }
            }
        }
        self.batch.finish()
    }

    /// Reports the end of the stream: throws an `Error` of kind `framing` if it ended inside a
    /// frame, or the stream's framing error.
    pub fn finish(&mut self) -> Result<(), JsValue> {
        if let Some(e) = &self.ended {
            return Err(error::remote(e));
        }
        self.decoder.finish().map_err(|e| error::remote(&e))
    }

    /// The framing error met by the last `push`, as an `Error`, or `undefined`.
    #[wasm_bindgen(js_name = takeFailure)]
    pub fn take_failure(&mut self) -> JsValue {
        self.failure
            .take()
            .map_or(JsValue::UNDEFINED, |e| error::remote(&e))
    }

    /// Bytes held of a frame not yet complete.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// The dialect in force, once fixed or detected.
    pub fn dialect(&self) -> Option<String> {
        self.decoder.dialect().map(|d| d.as_str().into())
    }

    /// Address of the last call's item table.
    #[wasm_bindgen(js_name = itemsPtr)]
    pub fn items_ptr(&self) -> usize {
        self.batch.items_ptr()
    }

    /// Address of the last call's payload bounds.
    #[wasm_bindgen(js_name = boundsPtr)]
    pub fn bounds_ptr(&self) -> usize {
        self.batch.bounds_ptr()
    }
}

impl RawDecoder {
    /// The last call's output, for Rust callers.
    pub fn batch(&self) -> &Batcher {
        &self.batch
    }
}
