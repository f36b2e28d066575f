//! Arguments shared by the subcommands: dialects, durations, and where a server is.

use std::time::Duration;

use clap::{Args, ValueEnum};
use jsocket_core::{Dialect, DialectMode};
use native::{BlockingClient, ClientConfig, DEFAULT_PORT};

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

/// A time limit given in seconds (`1.5`); `0` means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Option<Duration>);

impl std::fmt::Display for Seconds {
    /// As typed: whole or fractional seconds, `0` for none.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("0"),
            Some(d) => write!(f, "{}", d.as_secs_f64()),
        }
    }
}

/// Parses [`Seconds`].
pub fn seconds(text: &str) -> Result<Seconds, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs == 0.0 {
        return Ok(Seconds(None));
    }
    Duration::try_from_secs_f64(secs)
        .map(|d| Seconds(Some(d)))
        .map_err(|e| format!("{text:?}: {e}"))
}

/// Parses a time limit in seconds that must be there (`0.3`, `10`): more than zero.
pub fn positive_seconds(text: &str) -> Result<Duration, String> {
    match seconds(text)? {
        Seconds(Some(d)) => Ok(d),
        Seconds(None) => Err(format!("{text:?}: must be more than 0")),
    }
}

/// Where the server to talk to is, and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct Target {
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
    /// Seconds to wait for each reply (0: forever).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    pub timeout: Seconds,
}

impl Target {
    /// Connects as the arguments say.
    pub fn connect(&self) -> Result<BlockingClient, native::Error> {
        let mut config = ClientConfig::default()
            .attempts(self.attempts)
            .read_timeout(self.timeout.0);
        if let Some(d) = self.dialect.dialect() {
            config = config.dialect(d);
        }
        match &self.unix {
            Some(path) => BlockingClient::connect_unix(path, config),
            None => BlockingClient::connect(&host_port(&self.host, self.port), config),
        }
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
        for text in ["0", "30", "1.5", "0.25"] {
            let parsed = seconds(text).unwrap();
            assert_eq!(parsed.to_string(), text);
            assert_eq!(seconds(&parsed.to_string()).unwrap(), parsed);
        }
        assert_eq!(seconds("0").unwrap(), Seconds(None));
        assert!(seconds("-1").is_err() && seconds("soon").is_err());
        assert_eq!(positive_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(positive_seconds("0").is_err());
    }
}
