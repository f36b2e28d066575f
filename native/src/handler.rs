//! What a server does with messages: [`Handler`] (a reply computed at once, as jsocket's
//! `_process_message`) or [`AsyncHandler`] (a reply that waits on something), and the
//! [`Context`] each gets.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use jsocket_core::{JsonText, LocalError, RemoteError, Stats};
use serde_json::Value;

use crate::server_handle::ServerHandle;
use crate::shard::Slot;
use crate::socket::PeerAddr;

/// A boxed future that need not be `Send` (each shard of a server runs on one thread).
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A handler's reply: a value to serialise, or a JSON text to send exactly as it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Serialised by serde_json.
    Value(Value),
    /// Sent byte for byte (a received message, say).
    Json(JsonText),
}

impl From<Value> for Reply {
    fn from(value: Value) -> Self {
        Reply::Value(value)
    }
}

impl From<JsonText> for Reply {
    fn from(text: JsonText) -> Self {
        Reply::Json(text)
    }
}

/// The `Value` of a message for a handler that takes one; `None` when the message is JSON that
/// a `Value` cannot hold (see `jsocket_core::json`), which is then counted as rejected.
fn value_of(msg: &JsonText, ctx: &mut Context) -> Option<Value> {
    match msg.value() {
        Ok(value) => Some(value),
        Err(e) => {
            ctx.reject(e);
            None
        }
    }
}

/// A server's behaviour: one required method, as Python jsocket's `_process_message`.
///
/// `on_message` gets each message of a client in order and returns the reply, if any; the reply
/// goes out in the dialect the client spoke. Replies to the messages of one read are written
/// together. A panic in `on_message` costs that message only: it is counted as a `handler`
/// failure and the connection goes on.
///
/// Messages arrive as [`JsonText`], checked to be JSON and kept as received, at
/// [`on_json`](Handler::on_json); its default builds the `Value` (floats exact, keys in the order
/// sent, any key a plain key) and calls `on_message`. A relay overrides `on_json` to pass the
/// text on untouched, as [`Echo`](crate::builtin::Echo) does, and so never alters a number or
/// a key order, even one a `Value` cannot hold (`1e400`: such a message never reaches
/// `on_message`, and is counted as rejected, `invalid_json`).
///
/// ```
/// use jsocket::{Context, Handler};
/// use serde_json::{json, Value};
///
/// struct Adder;
///
/// impl Handler for Adder {
///     fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
///         let sum = msg["a"].as_i64()? + msg["b"].as_i64()?;
///         Some(json!({"sum": sum, "conn": ctx.id()}))
///     }
/// }
/// ```
pub trait Handler: 'static {
    /// Handles one message; returns the reply, if any.
    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value>;

    /// Handles one message as received: by default as a `Value`, through
    /// [`on_message`](Self::on_message). Override it to work with the text itself.
    fn on_json(&self, msg: JsonText, ctx: &mut Context) -> Option<Reply> {
        let value = value_of(&msg, ctx)?;
        self.on_message(value, ctx).map(Reply::Value)
    }

    /// Called once on each shard (thread) when the server starts running, with that shard's
    /// handle to push messages (from tasks or timers of your own) and read statistics; keep a
    /// clone if you need it later.
    fn on_start(&self, _handle: &ServerHandle) {}

    /// Called when a client connects, before its first message.
    fn on_connect(&self, _ctx: &mut Context) {}

    /// Called when a client is gone (its statistics are still readable in `ctx`).
    fn on_disconnect(&self, _ctx: &mut Context) {}

    /// Called after clients are gone, once for all those whose
    /// [`on_disconnect`](Self::on_disconnect) came on this shard since the last call: soon after
    /// a lone departure (once the tasks ready with it have run), and at most every 50 ms while
    /// departures keep coming. A handler that tells the others of departures gathers them in
    /// `on_disconnect` and tells them here, in one message: told one by one, a room that
    /// leaves at once would cost the square of its size.
    fn on_departures(&self, _handle: &ServerHandle) {}
}

/// A server's behaviour when a reply must wait on something (a database, a timer, another
/// connection): `on_message` returns a boxed local future.
///
/// A connection's messages are handled one at a time, in order: while its handler waits, that
/// connection reads no further (its messages wait in the socket), and other connections go on.
///
/// ```
/// use std::time::Duration;
/// use jsocket::{AsyncHandler, Context, LocalBoxFuture};
/// use serde_json::Value;
///
/// struct Slow;
///
/// impl AsyncHandler for Slow {
///     fn on_message<'a>(&'a self, msg: Value, _ctx: &'a mut Context) -> LocalBoxFuture<'a, Option<Value>> {
///         Box::pin(async move {
///             smol::Timer::after(Duration::from_millis(10)).await;
///             Some(msg)
///         })
///     }
/// }
/// ```
pub trait AsyncHandler: 'static {
    /// Handles one message; the future's output is the reply, if any.
    fn on_message<'a>(
        &'a self,
        msg: Value,
        ctx: &'a mut Context,
    ) -> LocalBoxFuture<'a, Option<Value>>;

    /// Handles one message as received (see [`Handler::on_json`]): by default as a `Value`,
    /// through [`on_message`](Self::on_message).
    fn on_json<'a>(
        &'a self,
        msg: JsonText,
        ctx: &'a mut Context,
    ) -> LocalBoxFuture<'a, Option<Reply>> {
        Box::pin(async move {
            let value = value_of(&msg, ctx)?;
            self.on_message(value, ctx).await.map(Reply::Value)
        })
    }

    /// Called once when the server starts running, with a handle to push messages (from tasks
    /// or timers of your own) and read statistics; keep a clone if you need it later.
    fn on_start(&self, _handle: &ServerHandle) {}

    /// Called when a client connects, before its first message.
    fn on_connect(&self, _ctx: &mut Context) {}

    /// Called when a client is gone.
    fn on_disconnect(&self, _ctx: &mut Context) {}

    /// Called after clients are gone, once for all that went together (see
    /// [`Handler::on_departures`]).
    fn on_departures(&self, _handle: &ServerHandle) {}
}

/// A [`Handler`] made of a closure, from [`handler_fn`].
pub struct FnHandler<F>(F);

/// A [`Handler`] from a closure.
///
/// ```
/// use jsocket::handler_fn;
/// let echo = handler_fn(|msg, _ctx| Some(msg));
/// # let _ = echo;
/// ```
pub fn handler_fn<F>(f: F) -> FnHandler<F>
where
    F: Fn(Value, &mut Context) -> Option<Value> + 'static,
{
    FnHandler(f)
}

impl<F> Handler for FnHandler<F>
where
    F: Fn(Value, &mut Context) -> Option<Value> + 'static,
{
    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
        (self.0)(msg, ctx)
    }
}

/// What a handler knows of the connection a message came on.
pub struct Context {
    slot: Rc<Slot>,
    handle: ServerHandle,
    close: bool,
}

impl Context {
    pub(crate) fn new(slot: Rc<Slot>, handle: ServerHandle) -> Self {
        Context {
            slot,
            handle,
            close: false,
        }
    }

    /// The connection's id, unique for the server's lifetime (as [`ServerHandle::send`] takes
    /// it).
    pub fn id(&self) -> u64 {
        self.slot.id
    }

    /// Where the client connects from.
    pub fn peer(&self) -> &PeerAddr {
        &self.slot.peer
    }

    /// The connection's statistics so far (a copy).
    pub fn stats(&self) -> Stats {
        self.slot
            .conn
            .try_borrow()
            .map(|c| c.stats().clone())
            .unwrap_or_default()
    }

    /// The server, to push to other connections or read its statistics.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Sends a message to this connection now, ahead of the reply to the current message (for
    /// a handler that answers with several messages, in order). It goes out in the client's
    /// dialect, byte for byte as given; unlike [`ServerHandle::send_json`], it is not a pushed
    /// message: it takes no outbox room and may go to a client that has not said what it is.
    pub fn send_json(&mut self, message: &JsonText) -> Result<(), LocalError> {
        match self.slot.conn.try_borrow_mut() {
            Ok(mut conn) => conn.send_json(self.handle.shared.clock.now(), message),
            // Not reached: the connection is never borrowed across a handler call.
            Err(_) => Err(LocalError::Closed),
        }
    }

    /// Closes this connection once the reply to the current message (if any) is sent.
    pub fn close(&mut self) {
        self.close = true;
    }

    /// Counts the current message as rejected (as the core counts a bad payload: `invalid_json`
    /// for [`RemoteError::Unsupported`], which never closes the connection; an
    /// [`InvalidJson`](RemoteError::InvalidJson) one closes it in strict mode).
    pub fn reject(&mut self, error: RemoteError) {
        if let Ok(mut conn) = self.slot.conn.try_borrow_mut() {
            conn.report_invalid(self.handle.shared.clock.now(), error);
        }
    }

    pub(crate) fn close_requested(&self) -> bool {
        self.close
    }
}

/// The hooks both kinds of handler have, passed to the shared one.
macro_rules! shared_hooks {
    () => {
        fn on_start(&self, handle: &ServerHandle) {
            self.0.on_start(handle);
        }

        fn on_connect(&self, ctx: &mut Context) {
            self.0.on_connect(ctx);
        }

        fn on_disconnect(&self, ctx: &mut Context) {
            self.0.on_disconnect(ctx);
        }

        fn on_departures(&self, handle: &ServerHandle) {
            self.0.on_departures(handle);
        }
    };
}

/// One handler shared by every shard of a server (see [`Server::run`](crate::Server::run)).
pub(crate) struct Everywhere<H: ?Sized>(pub(crate) Arc<H>);

impl<H: Handler + ?Sized> Handler for Everywhere<H> {
    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
        self.0.on_message(msg, ctx)
    }

    fn on_json(&self, msg: JsonText, ctx: &mut Context) -> Option<Reply> {
        self.0.on_json(msg, ctx)
    }

    shared_hooks!();
}

impl<H: AsyncHandler + ?Sized> AsyncHandler for Everywhere<H> {
    fn on_message<'a>(
        &'a self,
        msg: Value,
        ctx: &'a mut Context,
    ) -> LocalBoxFuture<'a, Option<Value>> {
        self.0.on_message(msg, ctx)
    }

    fn on_json<'a>(
        &'a self,
        msg: JsonText,
        ctx: &'a mut Context,
    ) -> LocalBoxFuture<'a, Option<Reply>> {
        self.0.on_json(msg, ctx)
    }

    shared_hooks!();
}

/// The handler a server runs, either kind.
#[derive(Clone)]
pub(crate) enum Dispatch {
    Sync(Rc<dyn Handler>),
    Async(Rc<dyn AsyncHandler>),
}

impl Dispatch {
    pub(crate) fn on_start(&self, handle: &ServerHandle) {
        match self {
            Dispatch::Sync(h) => h.on_start(handle),
            Dispatch::Async(h) => h.on_start(handle),
        }
    }

    pub(crate) fn on_connect(&self, ctx: &mut Context) {
        match self {
            Dispatch::Sync(h) => h.on_connect(ctx),
            Dispatch::Async(h) => h.on_connect(ctx),
        }
    }

    /// The handler's `on_disconnect`; its `on_departures` follows (see [`Departures`]).
    ///
    /// [`Departures`]: crate::departures::Departures
    pub(crate) fn on_disconnect(&self, ctx: &mut Context) {
        match self {
            Dispatch::Sync(h) => h.on_disconnect(ctx),
            Dispatch::Async(h) => h.on_disconnect(ctx),
        }
        ctx.handle.shared.departures.note();
    }

    pub(crate) fn on_departures(&self, handle: &ServerHandle) {
        match self {
            Dispatch::Sync(h) => h.on_departures(handle),
            Dispatch::Async(h) => h.on_departures(handle),
        }
    }
}
