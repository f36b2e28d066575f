//! [`EndpointConfig`]: the server-wide limits, budgets, timeouts and rights.

use core::time::Duration;

use super::rate::Rate;
use super::rights::ControlPolicy;
use crate::config::{nonzero, time_limit};
use crate::error::{ConfigError, Setting};
use crate::frame::DEFAULT_MAX_MESSAGE_SIZE;

/// Everything an [`Endpoint`](super::Endpoint) decides by.
///
/// Defaults: 10,000 connections; per address a tenth of that (at least 16; loopback and local
/// sockets have no per-address limit); pressure from 90 % of the slots, when a connection that
/// has not completed a message in 10 s is let go (and at the limit, the one that has waited
/// longest without completing one, if that is over a second, makes room for a newcomer); 64 MiB of pushed output on the
/// whole server, 1 MiB and 1024 messages per member, a member losing pushes for 30 s
/// disconnected; downloads bounded to 60 s; control requests as [`ControlPolicy::default`],
/// statistics and client pages rate-limited to 10 a second (burst 20), broadcasts to 100 a
/// second (burst 100); a statistics snapshot reused for 1 s, event summaries every 10 s.
///
/// ## The memory bound
/// With `C` = [`max_connections`](Self::max_connections), `B` =
/// [`output_budget`](Self::output_budget), and for each connection `S` = the core's
/// `max_message_size`, `P` = its `max_pending_output` and `H` = [`MAX_HEADER_LEN`](crate::MAX_HEADER_LEN):
///
/// ```text
/// memory ≤ B + C × (2·(S + H) + P + E) + A
/// ```
///
/// `B` holds every pushed payload waiting in any outbox, counted once however many members
/// share it, with [`FRAME_OVERHEAD`](super::FRAME_OVERHEAD) per payload and
/// [`ENTRY_COST`](super::ENTRY_COST) per outbox entry. Each connection holds at most one
/// partial frame (`S + H`) and its unsent output (`P`, plus one framed message that crossed
/// it: `S + H`).
/// `E` is the endpoint's fixed bookkeeping per connection (a few hundred bytes) and `A` what the
/// adapter holds besides (its read buffer, its tasks, the events of one read). Pushes take a
/// connection's output at most one message past `P` (the term above): the adapter takes them
/// from the outbox only while its unsent output is at most `P`.
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::endpoint::EndpointConfig;
///
/// let config = EndpointConfig::default()
///     .max_connections(500)
///     .output_budget(16 << 20)
///     .first_bytes_timeout(Duration::from_secs(5));
/// assert_eq!(config.get_max_per_address(), 50);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    pub(crate) max_connections: usize,
    pub(crate) max_per_address: Option<usize>,
    pub(crate) pressure: Option<usize>,
    pub(crate) first_bytes_timeout: Duration,
    pub(crate) displace_after: Duration,
    pub(crate) download_timeout: Option<Duration>,
    pub(crate) output_budget: usize,
    pub(crate) member_output: usize,
    pub(crate) member_messages: usize,
    pub(crate) slow_reader_timeout: Option<Duration>,
    pub(crate) max_message_size: u32,
    pub(crate) control: bool,
    pub(crate) policy: ControlPolicy,
    pub(crate) query_rate: Option<Rate>,
    pub(crate) broadcast_rate: Option<Rate>,
    pub(crate) page_size: usize,
    pub(crate) snapshot_interval: Duration,
    pub(crate) summary_interval: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            max_connections: 10_000,
            max_per_address: None,
            pressure: None,
            first_bytes_timeout: Duration::from_secs(10),
            displace_after: Duration::from_secs(1),
            download_timeout: Some(Duration::from_secs(60)),
            output_budget: 64 << 20,
            member_output: 1 << 20,
            member_messages: 1024,
            slow_reader_timeout: Some(Duration::from_secs(30)),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            control: true,
            policy: ControlPolicy::default(),
            query_rate: Some(Rate::new(10, 20)),
            broadcast_rate: Some(Rate::new(100, 100)),
            page_size: 100,
            snapshot_interval: Duration::from_secs(1),
            summary_interval: Duration::from_secs(10),
        }
    }
}

impl EndpointConfig {
    /// Most connections at once, of every kind: jsocket, WebSocket, HTTP downloads, and those
    /// not yet identified.
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Most connections from one address (an IPv6 /64 counts as one); default a tenth of
    /// [`max_connections`](Self::max_connections), at least 16: generous, since many visitors
    /// may share one address behind NAT. Loopback and local sockets are not limited by it.
    #[must_use]
    pub fn max_per_address(mut self, max: usize) -> Self {
        self.max_per_address = Some(max);
        self
    }

    /// Connections at and above which the server is under pressure: then a connection that has
    /// not completed a message within the [first-bytes timeout](Self::first_bytes_timeout) is
    /// let go. Default 90 % of [`max_connections`](Self::max_connections).
    #[must_use]
    pub fn pressure(mut self, connections: usize) -> Self {
        self.pressure = Some(connections);
        self
    }

    /// How long a new connection may take to complete its first message (a jsocket frame, an
    /// HTTP request head) before, under [pressure](Self::pressure), it is let go (default
    /// 10 s). Without pressure it does not apply; a connection that has spoken is never let go
    /// for being quiet (the core's idle timeout does that, if set).
    #[must_use]
    pub fn first_bytes_timeout(mut self, timeout: Duration) -> Self {
        self.first_bytes_timeout = timeout;
        self
    }

    /// How long a connection must have waited without completing a message before, at the
    /// connection limit, a newcomer may take its slot at once (default 1 s). Shorter than any
    /// first-bytes timeout so that silent connections never keep newcomers out for long; not
    /// zero, so that a burst of connections cannot push out clients whose first message is
    /// still on its way.
    #[must_use]
    pub fn displace_after(mut self, wait: Duration) -> Self {
        self.displace_after = wait;
        self
    }

    /// How long an HTTP download may hold its slot (default 60 s; `None`: as long as it likes).
    #[must_use]
    pub fn download_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.download_timeout = timeout;
        self
    }

    /// Bytes of pushed output waiting in outboxes on the whole server (default 64 MiB). When a
    /// push does not fit, the oldest waiting entries go first, which are those of the slowest
    /// readers; see [`Endpoint`](super::Endpoint).
    #[must_use]
    pub fn output_budget(mut self, bytes: usize) -> Self {
        self.output_budget = bytes;
        self
    }

    /// A member's own limit: payload bytes in its outbox together with its connection's unsent
    /// output (default 1 MiB, the core's `max_pending_output`). An empty outbox of a drained
    /// connection takes one message of any size.
    #[must_use]
    pub fn member_output(mut self, bytes: usize) -> Self {
        self.member_output = bytes;
        self
    }

    /// Most messages waiting in one member's outbox (default 1024).
    #[must_use]
    pub fn member_messages(mut self, messages: usize) -> Self {
        self.member_messages = messages;
        self
    }

    /// How long a member may go on losing pushes (over its own limit, or evicted under the
    /// global budget) without catching up before it is disconnected (default 30 s; `None`:
    /// never).
    #[must_use]
    pub fn slow_reader_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.slow_reader_timeout = timeout;
        self
    }

    /// The largest payload a broadcast may make, envelope included (default 10 MiB): set it to
    /// the connections' `max_message_size`, so that every member can be sent what is broadcast.
    #[must_use]
    pub fn max_message_size(mut self, max: u32) -> Self {
        self.max_message_size = max;
        self
    }

    /// Whether `$jsocket` control messages are for the server (default true); when off,
    /// [`Endpoint::handle_message`](super::Endpoint::handle_message) passes them on.
    #[must_use]
    pub fn control(mut self, on: bool) -> Self {
        self.control = on;
        self
    }

    /// Who may make which control request.
    #[must_use]
    pub fn policy(mut self, policy: ControlPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The per-connection rate of statistics and client-page requests (`None`: unlimited).
    #[must_use]
    pub fn query_rate(mut self, rate: Option<Rate>) -> Self {
        self.query_rate = rate;
        self
    }

    /// The per-connection rate of broadcasts (`None`: unlimited).
    #[must_use]
    pub fn broadcast_rate(mut self, rate: Option<Rate>) -> Self {
        self.broadcast_rate = rate;
        self
    }

    /// Most clients in one page of per-client detail (default 100, at least 1).
    #[must_use]
    pub fn page_size(mut self, clients: usize) -> Self {
        self.page_size = clients.max(1);
        self
    }

    /// How long a statistics snapshot is reused before it is built again (default 1 s).
    #[must_use]
    pub fn snapshot_interval(mut self, interval: Duration) -> Self {
        self.snapshot_interval = interval;
        self
    }

    /// How often repeated events are summed up in one [`Event::Summary`](super::Event::Summary)
    /// (default 10 s).
    #[must_use]
    pub fn summary_interval(mut self, interval: Duration) -> Self {
        self.summary_interval = interval;
        self
    }

    /// Checks the settings together, as [`Config::validate`](crate::Config::validate) does: a
    /// limit is more than zero (a rate too), `None` is the only way to turn one off.
    pub fn validate(&self) -> Result<(), ConfigError> {
        nonzero(self.max_connections, Setting::MaxConnections)?;
        if let Some(max) = self.max_per_address {
            nonzero(max, Setting::MaxPerAddress)?;
        }
        nonzero(self.output_budget, Setting::OutputBudget)?;
        nonzero(self.member_output, Setting::MemberOutput)?;
        nonzero(self.member_messages, Setting::MemberMessages)?;
        nonzero(self.max_message_size as usize, Setting::MaxMessageSize)?;
        time_limit(Some(self.first_bytes_timeout), Setting::FirstBytesTimeout)?;
        time_limit(self.download_timeout, Setting::DownloadTimeout)?;
        time_limit(self.slow_reader_timeout, Setting::SlowReaderTimeout)?;
        for (rate, setting) in [
            (self.query_rate, Setting::QueryRate),
            (self.broadcast_rate, Setting::BroadcastRate),
        ] {
            if let Some(rate) = rate {
                nonzero(rate.per_second as usize, setting)?;
            }
        }
        Ok(())
    }

    /// The connection limit.
    #[must_use]
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// The per-address limit in force.
    #[must_use]
    pub fn get_max_per_address(&self) -> usize {
        self.max_per_address
            .unwrap_or_else(|| (self.max_connections / 10).max(16))
    }

    /// The connection count from which pressure applies.
    #[must_use]
    pub fn get_pressure(&self) -> usize {
        self.pressure
            .unwrap_or_else(|| self.max_connections - self.max_connections / 10)
    }

    /// The first-bytes timeout.
    #[must_use]
    pub fn get_first_bytes_timeout(&self) -> Duration {
        self.first_bytes_timeout
    }

    /// How long a silent connection is safe from being displaced by a newcomer.
    #[must_use]
    pub fn get_displace_after(&self) -> Duration {
        self.displace_after
    }

    /// The download timeout.
    #[must_use]
    pub fn get_download_timeout(&self) -> Option<Duration> {
        self.download_timeout
    }

    /// The global output budget.
    #[must_use]
    pub fn get_output_budget(&self) -> usize {
        self.output_budget
    }

    /// A member's own output limit.
    #[must_use]
    pub fn get_member_output(&self) -> usize {
        self.member_output
    }

    /// Most messages in a member's outbox.
    #[must_use]
    pub fn get_member_messages(&self) -> usize {
        self.member_messages
    }

    /// The slow-reader timeout.
    #[must_use]
    pub fn get_slow_reader_timeout(&self) -> Option<Duration> {
        self.slow_reader_timeout
    }

    /// Whether control messages are for the server.
    #[must_use]
    pub fn get_control(&self) -> bool {
        self.control
    }

    /// The control plane's rights.
    #[must_use]
    pub fn get_policy(&self) -> &ControlPolicy {
        &self.policy
    }

    /// The largest payload a broadcast may make.
    #[must_use]
    pub fn get_max_message_size(&self) -> u32 {
        self.max_message_size
    }

    /// The per-connection rate of statistics and client-page requests.
    #[must_use]
    pub fn get_query_rate(&self) -> Option<Rate> {
        self.query_rate
    }

    /// The per-connection rate of broadcasts.
    #[must_use]
    pub fn get_broadcast_rate(&self) -> Option<Rate> {
        self.broadcast_rate
    }

    /// Most clients in one page.
    #[must_use]
    pub fn get_page_size(&self) -> usize {
        self.page_size
    }

    /// How long a statistics snapshot is reused.
    #[must_use]
    pub fn get_snapshot_interval(&self) -> Duration {
        self.snapshot_interval
    }

    /// How often repeated events are summed up.
    #[must_use]
    pub fn get_summary_interval(&self) -> Duration {
        self.summary_interval
    }
}
