//! A plain tokio echo server with jsocket's v2 framing (`JSN1`, u32 BE length, u32 BE CRC32):
//! what a Rust user would write by hand, as a yardstick for `native serve`.
//!
//! Each message is parsed and re-encoded (serde_json), and the replies to everything one read
//! brought are coalesced into one buffer and written with one `write_all`. `TCP_NODELAY` is on.
//!
//! Usage: `tokio-echo [ADDR] [current|multi]` (default `127.0.0.1:5490 current`).

use std::io;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAGIC: &[u8; 4] = b"JSN1";
const HEADER: usize = 12;
const MAX: usize = 10 * 1024 * 1024;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5490".into());
    let flavor = args.next().unwrap_or_else(|| "current".into());
    let rt = match flavor.as_str() {
        "multi" => tokio::runtime::Builder::new_multi_thread().enable_all().build()?,
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build()?,
    };
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {} ({flavor} thread)", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                if let Err(e) = serve(stream).await {
                    eprintln!("connection: {e}");
                }
            });
        }
    })
}

async fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut inbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        inbuf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        while inbuf.len() - at >= HEADER {
            let head = &inbuf[at..at + HEADER];
            if &head[..4] != MAGIC {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad magic"));
            }
            let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
            let crc = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
            if len > MAX {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "oversize"));
            }
            if inbuf.len() - at < HEADER + len {
                break;
            }
            let payload = &inbuf[at + HEADER..at + HEADER + len];
            if crc32fast::hash(payload) != crc {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad crc"));
            }
            let value: Value = serde_json::from_slice(payload)?;
            let start = out.len();
            out.resize(start + HEADER, 0);
            serde_json::to_writer(&mut out, &value)?;
            let body_len = (out.len() - start - HEADER) as u32;
            let body_crc = crc32fast::hash(&out[start + HEADER..]);
            out[start..start + 4].copy_from_slice(MAGIC);
            out[start + 4..start + 8].copy_from_slice(&body_len.to_be_bytes());
            out[start + 8..start + 12].copy_from_slice(&body_crc.to_be_bytes());
            at += HEADER + len;
        }
        inbuf.drain(..at);
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
}
