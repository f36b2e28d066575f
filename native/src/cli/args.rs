//! Arguments shared by the subcommands: dialects, durations, and where a server is.

use std::time::Duration;

use clap::{Args, ValueEnum};
use jsocket::{BlockingClient, ClientConfig, DEFAULT_PORT};
use jsocket_core::{Config, ConfigError, Dialect, DialectMode};

/// A dialect, or detection from the peer's first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// Detect from the peer's first frame (a client sends v2).
    Auto,
    /// jsocket 2.x: magic, length, CRC32.
    V2,
    /// jsocket 1.x: big-endian length.
    V1,
    /// The 2011 original: little-endian length.
    V1Le,
}

impl DialectArg {
    /// The core's dialect mode.
    pub fn mode(self) -> DialectMode {
        match self.dialect() {
            Some(d) => DialectMode::Fixed(d),
            None => DialectMode::Auto,
        }
    }

    /// The fixed dialect, if one.
    pub fn dialect(self) -> Option<Dialect> {
        match self {
            DialectArg::Auto => None,
            DialectArg::V2 => Some(Dialect::V2),
            DialectArg::V1 => Some(Dialect::V1),
            DialectArg::V1Le => Some(Dialect::V1Le),
        }
    }

    /// The name as typed.
    pub fn name(self) -> &'static str {
        self.dialect().map_or("auto", Dialect::as_str)
    }
}

/// A time limit given in seconds (`1.5`), or `off` for none. Zero is passed on as zero, for
/// the core's [`Config::validate`] to refuse: one rule for every front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Option<Duration>);

/// How a limit that is off is typed.
const OFF: &str = "off";

impl std::fmt::Display for Seconds {
    /// As typed: whole or fractional seconds, `off` for none.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str(OFF),
            Some(d) => write!(f, "{}", d.as_secs_f64()),
        }
    }
}

/// Parses [`Seconds`].
pub fn seconds(text: &str) -> Result<Seconds, String> {
    if text == OFF {
        return Ok(Seconds(None));
    }
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds, nor {OFF}"))?;
    Duration::try_from_secs_f64(secs)
        .map(|d| Seconds(Some(d)))
        .map_err(|e| format!("{text:?}: {e}"))
}

/// A time limit that is always on, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secs(pub Duration);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Seconds(Some(self.0)).fmt(f)
    }
}

/// Parses a time limit that is always on, in seconds; zero is passed on for the core to refuse.
pub fn secs(text: &str) -> Result<Secs, String> {
    match seconds(text)? {
        Seconds(Some(d)) => Ok(Secs(d)),
        Seconds(None) => Err(format!("{text:?}: this limit cannot be off")),
    }
}

/// Parses a time limit of the command line's own (not the core's) in seconds: more than zero,
/// as the core's [`Config::validate`] has it for its limits.
pub fn positive_seconds(text: &str) -> Result<Secs, String> {
    match seconds(text)? {
        Seconds(Some(d)) if !d.is_zero() => Ok(Secs(d)),
        _ => Err(format!("{text:?}: must be more than 0")),
    }
}

/// Parses an optional time limit of the command line's own: `off`, or more than zero.
pub fn optional_seconds(text: &str) -> Result<Seconds, String> {
    match seconds(text)? {
        Seconds(Some(d)) if d.is_zero() => Err(format!("{text:?}: must be more than 0, or {OFF}")),
        parsed => Ok(parsed),
    }
}

/// A count given as a number, or `off` for no limit; zero is passed on for the core to refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<u32>);

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str(OFF),
            Some(n) => write!(f, "{n}"),
        }
    }
}

/// Parses a [`Limit`].
pub fn limit(text: &str) -> Result<Limit, String> {
    if text == OFF {
        return Ok(Limit(None));
    }
    text.parse()
        .map(|n| Limit(Some(n)))
        .map_err(|_| format!("{text:?} is not a whole number, nor {OFF}"))
}

/// What the core's check says of the options, in the command line's terms: the flag is the
/// setting's name with dashes.
pub fn config_error(e: ConfigError) -> String {
    match e {
        ConfigError::Zero { setting } => {
            format!("--{} 0: {e}", setting.as_str().replace('_', "-"))
        }
        other => other.to_string(),
    }
}

/// The protocol rules every connection is held to: the core's [`Config`], whose defaults are
/// shown as the flags' defaults. Shared by `serve` and `bridge`.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Dialects to accept: auto detects each peer's from its first frame (and replies in it).
    #[arg(long, value_enum, default_value_t = DialectArg::Auto)]
    pub dialect: DialectArg,
    /// Largest message accepted or sent, in bytes.
    #[arg(long, value_name = "BYTES",
        default_value_t = Config::default().get_max_message_size())]
    pub max_message_size: u32,
    /// Close a connection after this many seconds with no traffic either way (off: never).
    #[arg(long, value_name = "SECS", value_parser = seconds,
        default_value_t = Seconds(Config::default().get_idle_timeout()))]
    pub idle_timeout: Seconds,
    /// Close a connection whose frame, once begun, is not complete in this many seconds (off:
    /// never).
    #[arg(long, value_name = "SECS", value_parser = seconds,
        default_value_t = Seconds(Config::default().get_frame_timeout()))]
    pub frame_timeout: Seconds,
}

impl ConnectionArgs {
    /// The core's configuration these flags make, checked by the core.
    pub fn config(&self) -> Result<Config, String> {
        let config = Config::default()
            .dialect(self.dialect.mode())
            .max_message_size(self.max_message_size)
            .idle_timeout(self.idle_timeout.0)
            .frame_timeout(self.frame_timeout.0);
        config.validate().map_err(config_error)?;
        Ok(config)
    }
}

/// Where the server to talk to is, and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The server as one target: host:port, tcp://host:port, unix:PATH or ws://host:port/path
    /// (instead of --host, --port and --unix).
    #[arg(long, value_name = "TARGET", conflicts_with_all = ["host", "port", "unix"])]
    pub to: Option<jsocket::Target>,
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Connect to this Unix socket instead of TCP.
    #[arg(long, value_name = "PATH")]
    pub unix: Option<std::path::PathBuf>,
    /// Dialect to speak: v2 for jsocket 2.x, v1 for 1.x, v1-le for the 2011 original (auto
    /// sends v2 and reads what comes).
    #[arg(long, value_enum, default_value_t = DialectArg::Auto)]
    pub dialect: DialectArg,
    /// Connection attempts before giving up.
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Seconds to wait for each reply (off: forever).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = optional_seconds)]
    pub timeout: Seconds,
}

impl Target {
    /// Connects as the arguments say.
    pub fn connect(&self) -> Result<BlockingClient, jsocket::Error> {
        let config = ClientConfig::default();
        // The client profile's waits, for the attempts asked.
        let backoff =
            (config.profile().backoff.clone()).max_retries(Some(self.attempts.saturating_sub(1)));
        let mut config = config.backoff(backoff).read_timeout(self.timeout.0);
        if let Some(d) = self.dialect.dialect() {
            let connection = config
                .connection_config()
                .clone()
                .dialect(DialectMode::Fixed(d));
            config = config.connection(connection);
        }
        let target = match (&self.to, &self.unix) {
            (Some(target), _) => target.clone(),
            (None, Some(path)) => jsocket::Target::Unix(path.clone()),
            (None, None) => jsocket::Target::Tcp {
                host: self.host.clone(),
                port: self.port,
            },
        };
        BlockingClient::connect(target, config)
    }
}

/// `host:port`, with an IPv6 address in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_print_as_they_parse() {
        for text in ["off", "0", "30", "1.5", "0.25"] {
            let parsed = seconds(text).unwrap();
            assert_eq!(parsed.to_string(), text);
            assert_eq!(seconds(&parsed.to_string()).unwrap(), parsed);
        }
        assert_eq!(seconds("off").unwrap(), Seconds(None));
        assert_eq!(seconds("0").unwrap(), Seconds(Some(Duration::ZERO)));
        assert!(seconds("-1").is_err() && seconds("soon").is_err());
        assert_eq!(
            positive_seconds("0.5"),
            Ok(Secs(Duration::from_millis(500)))
        );
        assert!(positive_seconds("0").is_err() && positive_seconds("off").is_err());
        assert_eq!(optional_seconds("off"), Ok(Seconds(None)));
        assert!(optional_seconds("0").is_err());
        assert_eq!(limit("off"), Ok(Limit(None)));
        assert_eq!(limit("0"), Ok(Limit(Some(0))));
    }

    #[test]
    fn a_zero_limit_is_refused_by_the_core_in_the_flags_terms() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            connection: ConnectionArgs,
        }
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["x"], args].concat())
                .expect("the flags parse")
                .connection
                .config()
        };
        let err = parse(&["--idle-timeout", "0"]).expect_err("zero is refused");
        assert!(err.starts_with("--idle-timeout 0:"), "{err}");
        assert!(parse(&["--max-message-size", "0"]).is_err());
        let off = parse(&["--idle-timeout", "off", "--frame-timeout", "off"]).expect("off is none");
        assert_eq!(off.get_idle_timeout(), None);
        assert_eq!(off.get_frame_timeout(), None);
        // The flags' defaults are the core's.
        assert_eq!(parse(&[]).expect("defaults"), Config::default());
    }
}
