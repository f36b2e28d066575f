//! The driver against real sockets.

use std::net::{TcpListener, TcpStream};
use std::rc::Rc;

use smol::Async;

use crate::builtin::Echo;
use crate::config::ServerConfig;
use crate::handler::Dispatch;
use crate::shard::Shared;
use crate::socket::{PeerAddr, ServerStream};

/// A client whose socket is kept full does not keep the thread: after one read's worth of
/// input the driver lets the other tasks run before it reads on.
#[test]
fn a_client_that_keeps_its_socket_full_yields_after_each_read() -> std::io::Result<()> {
    use std::cell::Cell;
    use std::io::{Read, Write};

    use jsocket_core::Dialect;
    use serde_json::json;
    use smol::LocalExecutor;

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut wire = Vec::new();
    let request = json!({"pad": "p".repeat(1000)});
    while wire.len() < 8 * 64 * 1024 {
        jsocket_core::encode(&request, Dialect::V2, &mut wire).map_err(std::io::Error::other)?;
    }
    let total = wire.len() as u64;
    let mut client = TcpStream::connect(addr)?;
    let mut replies = client.try_clone()?;
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while matches!(replies.read(&mut buf), Ok(n) if n > 0) {}
    });
    let writer = std::thread::spawn(move || {
        client.write_all(&wire)?;
        client.shutdown(std::net::Shutdown::Write)
    });
    let (stream, peer) = listener.accept()?;
    // As much as the socket buffers hold is there before the driver first runs.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (stop, _stopped) = smol::channel::bounded(1);
    let shared = Rc::new(Shared::new(ServerConfig::default(), stop));
    let slot = shared.register_new(PeerAddr::Tcp(peer));
    let stream = ServerStream::tcp(Async::new(stream)?);
    let ex = LocalExecutor::new();
    let driver = ex.spawn(super::serve(
        shared.clone(),
        slot.clone(),
        stream,
        Dispatch::Sync(Rc::new(Echo)),
    ));
    // Another task: how far the driver had read when this one first ran after it began.
    let seen = Rc::new(Cell::new(0u64));
    let other = ex.spawn({
        let (slot, seen) = (slot.clone(), seen.clone());
        async move {
            while slot.conn.borrow().stats().bytes_in == 0 {
                smol::future::yield_now().await;
            }
            seen.set(slot.conn.borrow().stats().bytes_in);
        }
    });
    smol::block_on(ex.run(async {
        other.await;
        driver.await;
    }));
    let written = writer
        .join()
        .map_err(|_| std::io::Error::other("writer panicked"))?;
    written?;
    let _ = reader.join();
    let read_buffer = ServerConfig::default().read_buffer as u64;
    assert!(
        seen.get() <= 2 * read_buffer,
        "the driver took {} of {total} bytes before the others ran",
        seen.get()
    );
    Ok(())
}

/// Requests sent in one write are answered a few at a time: every reply still comes, whole
/// and in order, large messages among small ones.
#[test]
fn a_pipelined_batch_is_answered_whole_and_in_order() -> std::io::Result<()> {
    use std::io::{Read, Write};

    use jsocket_core::{Decoder, DecoderConfig, Dialect};
    use serde_json::{json, Value};

    let requests: Vec<Value> = (0..600)
        .map(|i| match i % 97 {
            5 => json!({"i": i, "pad": "y".repeat(3000)}),
            _ => json!({"i": i, "s": "x".repeat(i % 40)}),
        })
        .collect();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let wire = requests.iter().try_fold(Vec::new(), |mut out, r| {
        jsocket_core::encode(r, Dialect::V2, &mut out).map(|()| out)
    });
    let wire = wire.map_err(std::io::Error::other)?;
    let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(addr)?;
        stream.write_all(&wire)?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut replies = Vec::new();
        stream.read_to_end(&mut replies)?;
        Ok(replies)
    });
    let (stream, peer) = listener.accept()?;
    let (stop, _stopped) = smol::channel::bounded(1);
    let shared = Rc::new(Shared::new(ServerConfig::default(), stop));
    let slot = shared.register_new(PeerAddr::Tcp(peer));
    let stream = ServerStream::tcp(Async::new(stream)?);
    smol::block_on(super::serve(
        shared,
        slot,
        stream,
        Dispatch::Sync(Rc::new(Echo)),
    ));
    let bytes = client
        .join()
        .map_err(|_| std::io::Error::other("the client thread panicked"))??;
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut input = &bytes[..];
    let mut replies = Vec::new();
    while let Some(payload) = decoder.decode(&mut input).map_err(std::io::Error::other)? {
        replies.push(serde_json::from_str::<Value>(payload.as_str())?);
    }
    assert!(input.is_empty());
    assert_eq!(replies.len(), requests.len());
    assert!(replies == requests, "replies differ from the requests");
    Ok(())
}

/// A member waiting with nothing to write has what is broadcast written by the shard's wake
/// line, with no turn of its task: the message arrives, and the task was not polled for it.
#[test]
fn an_idle_member_is_written_a_broadcast_without_its_task() -> std::io::Result<()> {
    use std::cell::Cell;
    use std::future::Future;
    use std::io::{Read, Write};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use jsocket_core::{Decoder, DecoderConfig, Dialect};
    use serde_json::{json, Value};
    use smol::LocalExecutor;

    /// Reads frames until one decodes whole.
    fn next(stream: &mut TcpStream, decoder: &mut Decoder) -> std::io::Result<Value> {
        let mut buf = [0u8; 4096];
        let mut pending = Vec::new();
        loop {
            let mut input = &pending[..];
            let payload = decoder.decode(&mut input).map_err(std::io::Error::other)?;
            let used = pending.len() - input.len();
            if let Some(payload) = payload {
                return Ok(serde_json::from_str(payload.as_str())?);
            }
            pending.drain(..used);
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            pending.extend_from_slice(&buf[..n]);
        }
    }

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (greeted, greeted_rx) = mpsc::channel();
    let (news, news_rx) = mpsc::channel();
    let (counted, counted_rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || -> std::io::Result<()> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut wire = Vec::new();
        jsocket_core::encode(&json!({"hello": 1}), Dialect::V2, &mut wire)
            .map_err(std::io::Error::other)?;
        stream.write_all(&wire)?;
        let mut decoder = Decoder::new(DecoderConfig::default());
        let _ = greeted.send(next(&mut stream, &mut decoder)?);
        let _ = news.send(next(&mut stream, &mut decoder)?);
        // Open until the count is taken: its end would wake the task (the socket turns
        // readable), which is not what is counted.
        let _ = counted_rx.recv_timeout(Duration::from_secs(10));
        Ok(())
    });
    let (stream, peer) = listener.accept()?;
    let (stop, _stopped) = smol::channel::bounded(1);
    let shared = Rc::new(Shared::new(ServerConfig::default(), stop));
    let slot = shared.register_new(PeerAddr::Tcp(peer));
    let stream = ServerStream::tcp(Async::new(stream)?);
    let ex = LocalExecutor::new();
    let polls = Rc::new(Cell::new(0u32));
    let mut driver = Box::pin(super::serve(
        shared.clone(),
        slot.clone(),
        stream,
        Dispatch::Sync(Rc::new(Echo)),
    ));
    let _driver = ex.spawn({
        let polls = polls.clone();
        smol::future::poll_fn(move |cx| {
            polls.set(polls.get() + 1);
            driver.as_mut().poll(cx)
        })
    });
    let _line = ex.spawn({
        let shared = shared.clone();
        async move { shared.wake_line.run(|s| shared.write_pushes(s)).await }
    });
    let until = |rx: &mpsc::Receiver<Value>| -> std::io::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            while ex.try_tick() {}
            match rx.recv_timeout(Duration::from_millis(1)) {
                Ok(v) => return Ok(v),
                Err(_) if Instant::now() < deadline => {}
                Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
            }
        }
    };
    assert_eq!(until(&greeted_rx)?, json!({"hello": 1}));
    // Settled: the task waits, with its reply written.
    std::thread::sleep(Duration::from_millis(50));
    while ex.try_tick() {}
    let before = polls.get();
    assert_eq!(shared.broadcast(br#"{"news":2}"#.to_vec()), Ok(1));
    assert_eq!(until(&news_rx)?, json!({"news": 2}));
    assert_eq!(
        polls.get(),
        before,
        "the member's task ran for the broadcast"
    );
    drop(counted);
    client
        .join()
        .map_err(|_| std::io::Error::other("the client thread panicked"))??;
    Ok(())
}
