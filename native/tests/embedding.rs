//! What a program embedding the server uses (the Python package does): a listener it bound
//! itself, several messages in answer to one, and closing a connection from outside its handler.

mod common;

use std::cell::RefCell;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{frame, RawPeer};
use jsocket::jsocket_core::{Dialect, JsonText};
use jsocket::{Context, Handler, Server, ServerConfig, ServerHandle};
use serde_json::{json, Value};

/// Answers each message with two notes, then the message itself.
struct Chatty;

impl Handler for Chatty {
    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
        for note in ["first", "second"] {
            let text = JsonText::new(json!({ "note": note }).to_string()).expect("JSON");
            ctx.send_json(&text).expect("sent");
        }
        Some(msg)
    }
}

/// A server on a listener bound here (port 0), run on its own thread.
fn serve<H: Handler + Send + Sync>(
    handler: H,
) -> (SocketAddr, jsocket::Stopper, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = Server::from_tcp_listener(ServerConfig::default(), listener).expect("server");
    assert_eq!(server.local_addr(), Some(addr));
    let stopper = server.stopper();
    let thread = std::thread::spawn(move || server.run_blocking(handler).expect("run"));
    (addr, stopper, thread)
}

#[test]
fn a_listener_bound_elsewhere_is_served_and_sends_go_ahead_of_the_reply_in_order() {
    let (addr, stopper, thread) = serve(Chatty);
    let mut peer = RawPeer::connect(addr, Dialect::V1);
    for i in 0..3 {
        peer.write(&frame(&json!({ "i": i }), Dialect::V1));
    }
    let got: Vec<Value> = (0..9).map(|_| peer.recv()).collect();
    let want: Vec<Value> = (0..3)
        .flat_map(|i| {
            [
                json!({"note": "first"}),
                json!({"note": "second"}),
                json!({ "i": i }),
            ]
        })
        .collect();
    assert_eq!(got, want);
    drop(peer);
    stopper.stop();
    thread.join().expect("server thread");
}

/// Echoes, and tells a task of the server's thread which connections spoke.
struct Closer {
    handle: Rc<RefCell<Option<ServerHandle>>>,
    spoke: smol::channel::Sender<u64>,
}

impl Handler for Closer {
    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
        let _ = self.spoke.try_send(ctx.id());
        Some(msg)
    }

    fn on_start(&self, handle: &ServerHandle) {
        *self.handle.borrow_mut() = Some(handle.clone());
    }
}

#[test]
fn a_connection_closed_through_the_handle_sends_its_replies_then_ends() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = Server::from_tcp_listener(ServerConfig::default(), listener).expect("server");
    let stopper = server.stopper();
    let client = std::thread::spawn(move || {
        let mut peer = RawPeer::connect(addr, Dialect::V2);
        peer.write(&frame(&json!("hello"), Dialect::V2));
        // The reply comes, then the end of the stream: the client sent nothing more.
        assert_eq!(peer.recv(), json!("hello"));
        peer.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut rest = Vec::new();
        let started = Instant::now();
        peer.stream
            .read_to_end(&mut rest)
            .expect("the server ends its stream");
        assert!(rest.is_empty(), "nothing after the reply");
        assert!(started.elapsed() < Duration::from_secs(5));
        stopper.stop();
    });
    let handle = Rc::new(RefCell::new(None));
    let (spoke, ids) = smol::channel::unbounded();
    let closer = Closer {
        handle: handle.clone(),
        spoke,
    };
    let ex = smol::LocalExecutor::new();
    let running = ex.spawn(server.run_local(closer));
    smol::block_on(ex.run(async {
        let id = ids.recv().await.expect("a connection spoke");
        let handle = handle.borrow().clone().expect("started");
        // At once: the reply to its message is queued already, and goes out first.
        assert!(handle.close(id), "connection {id} is there");
        assert!(!handle.close(id + 1000), "no such connection");
        running.await.expect("run");
    }));
    client.join().expect("client thread");
}
