//! Telling a connection over the server's limit that the server is full, at a bounded cost:
//! at most [`ServerConfig::max_refusing`](crate::ServerConfig::max_refusing) at once, each for at
//! most the core's [`Refusal::ANSWER_TIME`] (and not past shutdown).

use std::io;

use jsocket_core::endpoint::Refusal;
use jsocket_core::{encode, sniff, Sniffed};
use smol::future::FutureExt;
use smol::Timer;

use crate::counted::Counted;
use crate::http::{status_response, Door};
use crate::shard::Shared;
use crate::socket::{self, ServerStream};

/// Answers a connection the endpoint refused, by what its first bytes say it is: HTTP (a
/// WebSocket handshake too) gets the refusal's status (`503 Service Unavailable` when the
/// server is full, `429 Too Many Requests` when the address is) with `Retry-After`, a jsocket
/// client the refusal's `{"$jsocket": "error", "error": "..."}` in its dialect; anything else,
/// or nothing within [`Refusal::ANSWER_TIME`], is just closed. `_refusing` holds its place among those
/// being refused until the end.
pub(crate) async fn refuse(
    shared: &Shared,
    stream: ServerStream,
    door: Door,
    why: Refusal,
    _refusing: Counted,
) {
    let answer = async {
        let _ = answer(shared, &stream, door, why).await;
    };
    answer
        .or(async {
            Timer::after(Refusal::ANSWER_TIME).await;
        })
        .or(shared.stopped())
        .await;
}

async fn answer(
    shared: &Shared,
    stream: &ServerStream,
    door: Door,
    why: Refusal,
) -> io::Result<()> {
    let max = shared.config.connection.get_max_message_size();
    // Four bytes tell what a client is; a v1 length needs the fifth too (see `sniff`).
    let mut first = [0u8; 5];
    let mut have = 0;
    while have < 4 || (have < first.len() && sniff(&first[..have], max, false) == Sniffed::NeedMore)
    {
        match stream.try_read(&mut first[have..]) {
            Ok(0) => return Ok(()),
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.readable().await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let http = stream.is_plain_tcp() && (door == Door::Web || shared.config.web.on_main_port);
    let mut out = Vec::new();
    match sniff(&first[..have], max, false) {
        Sniffed::Http if http => {
            let retry = format!("Retry-After: {}\r\n", Refusal::RETRY_AFTER.as_secs());
            out.extend_from_slice(status_response(why.http_status(), &retry).as_bytes());
        }
        Sniffed::Jsocket(dialect) if door == Door::Any => {
            encode(&why.reply(), dialect, &mut out).map_err(io::Error::other)?;
        }
        _ => return Ok(()),
    }
    socket::write_all(&out, |b| stream.try_write(b), || stream.writable()).await?;
    // Read what the client still sends until it closes, so that closing with its request
    // unread does not reset the connection and destroy the answer.
    stream.shutdown_write();
    let mut sink = [0u8; 4096];
    loop {
        match stream.try_read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.readable().await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
