//! A plain tokio echo server with jsocket's v2 framing (`JSN1`, u32 BE length, u32 BE CRC32):
//! what a Rust user would write by hand, as a yardstick for `native serve`.
//!
//! Each message is parsed and re-encoded (serde_json), and the replies to everything one read
//! brought are coalesced into one buffer and written with one `write_all`. `TCP_NODELAY` is on.
//!
//! `chat`: a room instead, as tokio's own chat example writes one. Every connection is a
//! member; each message is relayed to every member (the sender too) as
//! `{"from": id, "message": m}`, encoded once and handed to each member's writer task by an
//! unbounded channel (the room is a `HashMap` behind a `Mutex`). A control request
//! (`{"$jsocket": ...}`) is answered `{}` to its sender alone. For `native bench --room`.
//!
//! Usage: `tokio-echo [ADDR] [current|multi] [echo|chat]` (default `127.0.0.1:5490 current
//! echo`).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// The members of the chat room, by id: where each one's frames go.
type Room = Arc<Mutex<HashMap<u64, UnboundedSender<Arc<[u8]>>>>>;

const MAGIC: &[u8; 4] = b"JSN1";
const HEADER: usize = 12;
const MAX: usize = 10 * 1024 * 1024;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5490".into());
    let flavor = args.next().unwrap_or_else(|| "current".into());
    let chat = args.next().as_deref() == Some("chat");
    let rt = match flavor.as_str() {
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {} ({flavor} thread)", listener.local_addr()?);
        let room = Room::default();
        let mut next_id = 0u64;
        loop {
            let (stream, _) = listener.accept().await?;
            next_id += 1;
            let (id, room) = (next_id, room.clone());
            tokio::spawn(async move {
                let served = if chat {
                    member(stream, id, room).await
                } else {
                    serve(stream).await
                };
                if let Err(e) = served {
                    eprintln!("connection: {e}");
                }
            });
        }
    })
}

async fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input = Input::new(64 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let more = input
            .read(&mut stream, &mut |value| echo_into(&mut out, &value))
            .await?;
        if !more {
            return Ok(());
        }
        // The replies to everything one read brought, in one write.
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
}

/// Appends `value`, re-encoded, to `out` as one v2 frame.
fn echo_into(out: &mut Vec<u8>, value: &Value) -> io::Result<()> {
    let start = out.len();
    out.resize(start + HEADER, 0);
    serde_json::to_writer(&mut *out, value)?;
    let body_len = (out.len() - start - HEADER) as u32;
    let body_crc = crc32fast::hash(&out[start + HEADER..]);
    out[start..start + 4].copy_from_slice(MAGIC);
    out[start + 4..start + 8].copy_from_slice(&body_len.to_be_bytes());
    out[start + 8..start + 12].copy_from_slice(&body_crc.to_be_bytes());
    Ok(())
}

/// What a connection has read and not yet handled.
struct Input {
    buf: Vec<u8>,
    chunk: Vec<u8>,
}

impl Input {
    fn new(chunk: usize) -> Self {
        Input {
            buf: Vec::with_capacity(chunk),
            chunk: vec![0; chunk],
        }
    }

    /// Reads once and hands each whole message to `each`; false at the end of the stream.
    async fn read<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        each: &mut impl FnMut(Value) -> io::Result<()>,
    ) -> io::Result<bool> {
        let n = reader.read(&mut self.chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        self.buf.extend_from_slice(&self.chunk[..n]);
        let mut at = 0;
        while let Some(len) = next_frame(&self.buf[at..])? {
            each(serde_json::from_slice(
                &self.buf[at + HEADER..at + HEADER + len],
            )?)?;
            at += HEADER + len;
        }
        self.buf.drain(..at);
        Ok(true)
    }
}

/// The payload length of the whole frame `input` begins with, checked (magic, size, CRC);
/// `None` while it is incomplete.
fn next_frame(input: &[u8]) -> io::Result<Option<usize>> {
    if input.len() < HEADER {
        return Ok(None);
    }
    if &input[..4] != MAGIC {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad magic"));
    }
    let len = u32::from_be_bytes([input[4], input[5], input[6], input[7]]) as usize;
    let crc = u32::from_be_bytes([input[8], input[9], input[10], input[11]]);
    if len > MAX {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "oversize"));
    }
    let Some(payload) = input.get(HEADER..HEADER + len) else {
        return Ok(None);
    };
    if crc32fast::hash(payload) != crc {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad crc"));
    }
    Ok(Some(len))
}

/// Appends `payload` to `out` as one v2 frame.
fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
    out.extend_from_slice(payload);
}

/// One member of the chat room: reads its messages and relays each to every member.
async fn member(stream: TcpStream, id: u64, room: Room) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut reader, writer) = stream.into_split();
    let (tx, rx) = unbounded_channel();
    room.lock().unwrap().insert(id, tx.clone());
    let writing = tokio::spawn(write_member(writer, rx));
    let mut input = Input::new(4096);
    let mut each = |value: Value| {
        let mut out = Vec::new();
        if value.get("$jsocket").is_some() {
            frame(&mut out, b"{}");
            let _ = tx.send(out.into());
        } else {
            let text = serde_json::to_vec(&serde_json::json!({"from": id, "message": value}))?;
            frame(&mut out, &text);
            let out: Arc<[u8]> = out.into();
            for member in room.lock().unwrap().values() {
                let _ = member.send(out.clone());
            }
        }
        Ok(())
    };
    let read = async {
        while input.read(&mut reader, &mut each).await? {}
        Ok(())
    };
    let outcome: io::Result<()> = read.await;
    room.lock().unwrap().remove(&id);
    drop(tx);
    let _ = writing.await;
    outcome
}

/// Writes what the room sends a member, everything waiting in one write.
async fn write_member(mut writer: OwnedWriteHalf, mut rx: UnboundedReceiver<Arc<[u8]>>) {
    let mut out = Vec::new();
    while let Some(first) = rx.recv().await {
        out.extend_from_slice(&first);
        while let Ok(more) = rx.try_recv() {
            out.extend_from_slice(&more);
        }
        if writer.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
    }
}
