//! Reading and parsing an HTTP request head (bounded in size and time).

use std::io::{self, Read};
use std::net::TcpStream;

use smol::Async;

/// Largest request head read; a longer one is answered 431.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// What we need of a request.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) target: String,
    /// `Upgrade: websocket` was asked for.
    pub(crate) websocket: bool,
    /// The head's bytes, up to and including the blank line.
    pub(crate) bytes: Vec<u8>,
    /// What was read after the head.
    pub(crate) extra: Vec<u8>,
}

/// Why no request head was read; the status to answer with, if any.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// Answer with this status and close.
    Status(u16),
    /// The peer went away or the socket failed: just close.
    Gone,
}

/// Reads until the end of the head (the first bytes, `first`, are already read).
pub(crate) async fn read_head(
    sock: &Async<TcpStream>,
    mut buf: Vec<u8>,
) -> Result<Head, HeadError> {
    let mut scanned: usize = 0;
    loop {
        // The blank line may straddle two reads: look again from three bytes back.
        let from = scanned.saturating_sub(3);
        if let Some(at) = find_blank_line(&buf[from..]) {
            let end = from + at + 4;
            let extra = buf.split_off(end);
            return parse(buf, extra);
        }
        scanned = buf.len();
        if buf.len() >= MAX_HEAD {
            return Err(HeadError::Status(431));
        }
        let mut chunk = [0u8; 4096];
        let want = chunk.len().min(MAX_HEAD + 4 - buf.len());
        match sock.get_ref().read(&mut chunk[..want]) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                sock.readable().await.map_err(|_| HeadError::Gone)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(HeadError::Gone),
        }
    }
}

fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

fn parse(bytes: Vec<u8>, extra: Vec<u8>) -> Result<Head, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::Status(431)),
        _ => return Err(HeadError::Status(400)),
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HeadError::Status(400));
    };
    let websocket = req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("upgrade")
            && String::from_utf8_lossy(h.value)
                .split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("websocket"))
    });
    Ok(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        websocket,
        bytes,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_websocket_request_and_keeps_what_follows() {
        let raw =
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\nabc";
        let end = raw.len() - 3;
        let Ok(head) = parse(raw[..end].to_vec(), raw[end..].to_vec()) else {
            panic!("not parsed");
        };
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/ws");
        assert!(head.websocket);
        assert_eq!(head.extra, b"abc");
    }

    #[test]
    fn refuses_garbage() {
        assert!(matches!(
            parse(b"GET\r\n\r\n".to_vec(), Vec::new()),
            Err(HeadError::Status(400))
        ));
    }
}
