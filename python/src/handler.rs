//! [`PyHandler`]: the `native` server's handler for a Python server. Each message goes to the
//! Python handler of its connection (`_process_message`) with the GIL held only for that call:
//! parsed by `json.loads`, the reply serialised as jsocket does and sent as it is. What the call
//! asked of its own connection (`send_obj`, `close`) is done through the call's `Context`, in
//! order and ahead of the reply.
//!
//! As a [`Handler`] it serves every client at once (`ServerFactory`); as an [`AsyncHandler`],
//! one at a time in the order they connected (`ThreadedServer`, as jsocket's): a connection's
//! messages wait, unread, until those before it have left.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use jsocket::{AsyncHandler, Context, Handler, LocalBoxFuture, PeerAddr, Reply, ServerHandle};
use jsocket_core::JsonText;
use pyo3::prelude::*;
use serde_json::Value;
use smol::channel::{Receiver, Sender};
use smol::future::FutureExt;

use crate::json;
use crate::peer::{Action, Link, Peer};

/// The handler of one Python server; cheap to clone, and `Send + Sync` (its state is shared).
#[derive(Clone)]
pub(crate) struct PyHandler(Arc<Inner>);

struct Inner {
    /// `connect(peer) -> handler`, `disconnect(peer, error)`, `error(peer, exc)`.
    hooks: Py<PyAny>,
    link: Arc<Link>,
    max_message_size: u32,
    max_queued: usize,
    clients: Mutex<HashMap<u64, Client>>,
    /// One at a time: the connections in the order they came; the first is served.
    line: Option<Mutex<Line>>,
    /// One at a time: closed when the server stops, which ends every wait for a turn.
    halted: Option<Receiver<()>>,
}

/// The connections waiting, in order, each with what ends its wait.
type Line = VecDeque<(u64, Sender<()>)>;

/// A connection as the handler knows it.
struct Client {
    peer: Py<Peer>,
    /// The Python callable answering its messages, once connected.
    handler: Option<Py<PyAny>>,
    /// Closed when its turn comes (one at a time), until then.
    turn: Option<Receiver<()>>,
}

impl PyHandler {
    /// A handler calling `hooks`; with `one_at_a_time` (closed when the server stops), one
    /// client after the other.
    pub(crate) fn new(
        hooks: Py<PyAny>,
        link: Arc<Link>,
        max_message_size: u32,
        max_queued: usize,
        one_at_a_time: Option<Receiver<()>>,
    ) -> PyHandler {
        PyHandler(Arc::new(Inner {
            hooks,
            link,
            max_message_size,
            max_queued,
            clients: Mutex::new(HashMap::new()),
            line: one_at_a_time.as_ref().map(|_| Mutex::new(VecDeque::new())),
            halted: one_at_a_time,
        }))
    }
}

/// A lock that a panic elsewhere does not poison for good (the map stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// A new connection: its peer; connected now unless it must wait its turn.
    fn connect(&self, ctx: &mut Context) {
        let addr = match ctx.peer() {
            PeerAddr::Tcp(addr) => Some(*addr),
            _ => None,
        };
        let peer = Peer::new(
            ctx.id(),
            addr,
            self.link.clone(),
            self.max_message_size,
            self.max_queued,
        );
        let (tx, rx) = smol::channel::bounded(1);
        let now = match &self.line {
            None => true,
            Some(line) => {
                let mut line = lock(line);
                line.push_back((ctx.id(), tx));
                line.len() == 1
            }
        };
        Python::attach(|py| {
            let Ok(peer) = Py::new(py, peer) else {
                return;
            };
            let handler = if now {
                self.call_connect(py, &peer, ctx)
            } else {
                None
            };
            let client = Client {
                peer,
                handler,
                turn: (!now).then_some(rx),
            };
            lock(&self.clients).insert(ctx.id(), client);
        });
    }

    /// Calls `hooks.connect(peer)` for the handler of `peer`, from the context of `ctx`'s
    /// connection (which may be another, the one that just left).
    fn call_connect(
        &self,
        py: Python<'_>,
        peer: &Py<Peer>,
        ctx: &mut Context,
    ) -> Option<Py<PyAny>> {
        let (handler, actions) = self.link.collect(|| {
            self.hooks
                .call_method1(py, "connect", (peer.clone_ref(py),))
        });
        apply(actions, ctx);
        match handler {
            Ok(handler) => Some(handler),
            Err(e) => {
                e.write_unraisable(py, None);
                apply(vec![Action::Close(peer.get().number())], ctx);
                None
            }
        }
    }

    /// Answers one message.
    fn answer(&self, msg: &JsonText, ctx: &mut Context) -> Option<Reply> {
        Python::attach(|py| {
            let (peer, handler) = {
                let clients = lock(&self.clients);
                let client = clients.get(&ctx.id())?;
                (
                    client.peer.clone_ref(py),
                    client.handler.as_ref()?.clone_ref(py),
                )
            };
            peer.get().publish(&ctx.stats());
            let (reply, actions) = self.link.collect(|| -> PyResult<Option<JsonText>> {
                let obj = json::loads(py, msg)?;
                let reply = handler.bind(py).call1((obj,))?;
                if reply.is_none() {
                    return Ok(None);
                }
                json::dumps_text(&reply, self.max_message_size).map(Some)
            });
            apply(actions, ctx);
            match reply {
                Ok(reply) => reply.map(Reply::Json),
                Err(e) => {
                    // As jsocket: a handler's exception closes that connection.
                    ctx.close();
                    if let Err(e) = self
                        .hooks
                        .call_method1(py, "error", (peer.clone_ref(py), e))
                    {
                        e.write_unraisable(py, None);
                    }
                    None
                }
            }
        })
    }

    /// Waits until it is this connection's turn (one at a time); false if the server stopped
    /// first (its message is then never answered, as jsocket never reads it).
    async fn wait_turn(&self, id: u64) -> bool {
        let turn = lock(&self.clients)
            .get_mut(&id)
            .and_then(|c| c.turn.clone());
        let (Some(turn), Some(halted)) = (turn, &self.halted) else {
            return true;
        };
        // Nothing is sent on either: each `recv` ends when its sender is closed.
        async {
            let _ = turn.recv().await;
            true
        }
        .or(async {
            let _ = halted.recv().await;
            false
        })
        .await
    }

    /// A connection is gone: its Python side is told; one at a time, the next one's turn.
    fn disconnect(&self, ctx: &mut Context) {
        let client = lock(&self.clients).remove(&ctx.id());
        let next = self.line.as_ref().and_then(|line| {
            let mut line = lock(line);
            let first = line.front().is_some_and(|(id, _)| *id == ctx.id());
            line.retain(|(id, _)| *id != ctx.id());
            first.then(|| line.front().cloned()).flatten()
        });
        Python::attach(|py| {
            if let Some(client) = client {
                client.peer.get().publish(&ctx.stats());
                client.peer.get().mark_closed();
                if client.handler.is_some() {
                    let (done, actions) = self.link.collect(|| {
                        self.hooks.call_method1(
                            py,
                            "disconnect",
                            (client.peer.clone_ref(py), py.None()),
                        )
                    });
                    apply(actions, ctx);
                    if let Err(e) = done {
                        e.write_unraisable(py, None);
                    }
                }
            }
            if let Some((id, turn)) = next {
                let peer = lock(&self.clients).get(&id).map(|c| c.peer.clone_ref(py));
                if let Some(peer) = peer {
                    let handler = self.call_connect(py, &peer, ctx);
                    if let Some(client) = lock(&self.clients).get_mut(&id) {
                        client.handler = handler;
                        client.turn = None;
                    }
                }
                turn.close();
            }
        });
    }
}

/// Does what a call asked: on its own connection through `ctx` (ahead of its reply), on others
/// through the server.
fn apply(actions: Vec<Action>, ctx: &mut Context) {
    for action in actions {
        match action {
            Action::Send(id, text) if id == ctx.id() => {
                // Refused only once the connection is closed: then there is no one to tell.
                let _ = ctx.send_json(&text);
            }
            Action::Send(id, text) => {
                if let Err(e) = ctx.handle().send_json(id, &text) {
                    log::debug!("message to connection {id} dropped: {e}");
                }
            }
            Action::Close(id) if id == ctx.id() => ctx.close(),
            Action::Close(id) => {
                ctx.handle().close(id);
            }
        }
    }
}

/// The hooks both kinds of handler share.
macro_rules! lifecycle {
    () => {
        fn on_start(&self, handle: &ServerHandle) {
            crate::server::started(handle);
        }

        fn on_connect(&self, ctx: &mut Context) {
            self.0.connect(ctx);
        }

        fn on_disconnect(&self, ctx: &mut Context) {
            self.0.disconnect(ctx);
        }
    };
}

impl Handler for PyHandler {
    fn on_message(&self, _msg: Value, _ctx: &mut Context) -> Option<Value> {
        None // not called: `on_json` takes every message
    }

    fn on_json(&self, msg: JsonText, ctx: &mut Context) -> Option<Reply> {
        self.0.answer(&msg, ctx)
    }

    lifecycle!();
}

impl AsyncHandler for PyHandler {
    fn on_message<'a>(
        &'a self,
        _msg: Value,
        _ctx: &'a mut Context,
    ) -> LocalBoxFuture<'a, Option<Value>> {
        Box::pin(async { None }) // not called: `on_json` takes every message
    }

    fn on_json<'a>(
        &'a self,
        msg: JsonText,
        ctx: &'a mut Context,
    ) -> LocalBoxFuture<'a, Option<Reply>> {
        Box::pin(async move {
            if !self.0.wait_turn(ctx.id()).await {
                return None;
            }
            self.0.answer(&msg, ctx)
        })
    }

    lifecycle!();
}
