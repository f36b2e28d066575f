//! [`BlockingClient`]: the [`Client`] for programs that do not use async.

use jsocket_core::{FromPayload, JsonText};
use serde::Serialize;

use crate::client::Client;
use crate::client_config::ClientConfig;
use crate::error::Error;
use crate::target::{Target, TargetError};
use jsocket_core::Stats;

/// A [`Client`] whose calls block the thread (each runs on [`smol::block_on`]).
///
/// ```no_run
/// use jsocket::{BlockingClient, ClientConfig};
/// use serde_json::{json, Value};
///
/// let mut client = BlockingClient::connect("127.0.0.1:5489", ClientConfig::default())?;
/// let reply: Value = client.request(&json!({"op": "ping"}))?;
/// println!("{reply}");
/// # Ok::<(), jsocket::Error>(())
/// ```
#[derive(Debug)]
pub struct BlockingClient {
    inner: Client,
}

impl BlockingClient {
    /// Connects to `target` (`host:port`, `unix:/path`, `ws://host:port/path`, or a
    /// [`Target`]); see [`Client::connect`].
    pub fn connect<T>(target: T, config: ClientConfig) -> Result<Self, Error>
    where
        T: TryInto<Target>,
        TargetError: From<T::Error>,
    {
        smol::block_on(Client::connect(target, config)).map(|inner| BlockingClient { inner })
    }

    /// Sends one message; see [`Client::send`].
    pub fn send<T: Serialize + ?Sized>(&mut self, message: &T) -> Result<(), Error> {
        smol::block_on(self.inner.send(message))
    }

    /// Sends a JSON text exactly as it is; see [`Client::send_json`].
    pub fn send_json(&mut self, message: &JsonText) -> Result<(), Error> {
        smol::block_on(self.inner.send_json(message))
    }

    /// Waits for the next message; see [`Client::recv`].
    pub fn recv<T: FromPayload>(&mut self) -> Result<T, Error> {
        smol::block_on(self.inner.recv())
    }

    /// Sends a message and waits for the reply; see [`Client::request`].
    pub fn request<Q, R>(&mut self, message: &Q) -> Result<R, Error>
    where
        Q: Serialize + ?Sized,
        R: FromPayload,
    {
        smol::block_on(self.inner.request(message))
    }

    /// Ends the connection from this side; see [`Client::close`].
    pub fn close(self) -> Result<(), Error> {
        smol::block_on(self.inner.close())
    }

    /// The connection's statistics.
    pub fn stats(&self) -> &Stats {
        self.inner.stats()
    }

    /// The async client inside.
    pub fn into_inner(self) -> Client {
        self.inner
    }
}
