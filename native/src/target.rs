//! [`Target`]: where a [`Client`](crate::Client) connects and over which transport, parsed from
//! text such as `host:port`, `unix:/path` or `ws://host:port/path`; [`TargetError`] when the
//! text says neither.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::http::Uri;

/// Where a client connects, and over which transport: the same messages, dialects, retries and
/// statistics over each.
///
/// It parses from text ([`FromStr`], or any `&str` given to
/// [`Client::connect`](crate::Client::connect)):
///
/// | text | target |
/// | --- | --- |
/// | `host:port`, `tcp://host:port` (`[::1]:5489` for IPv6) | [`Target::Tcp`] |
/// | `unix:/path/to/socket`, `unix:relative`, `unix:///path` | [`Target::Unix`] |
/// | `ws://host:port/path` (port 80 when left out) | [`Target::WebSocket`] |
///
/// Any other scheme (`wss://` among them: no TLS here) is a [`TargetError`]. A target can also
/// be built directly, or from a [`SocketAddr`].
///
/// ```
/// use jsocket::Target;
///
/// let tcp: Target = "127.0.0.1:5489".parse()?;
/// assert_eq!(tcp, Target::Tcp { host: "127.0.0.1".into(), port: 5489 });
/// let unix: Target = "unix:/run/app.sock".parse()?;
/// assert_eq!(unix, Target::Unix("/run/app.sock".into()));
/// let ws: Target = "ws://example.com/jsocket".parse()?;
/// assert_eq!(ws.to_string(), "ws://example.com:80/jsocket");
/// assert!("wss://example.com/".parse::<Target>().is_err());
/// # Ok::<(), jsocket::TargetError>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A jsocket stream over TCP (with `TCP_NODELAY`), to each address `host` resolves to in
    /// turn until one answers.
    Tcp {
        /// A host name or an IP address (an IPv6 address without brackets).
        host: String,
        /// The server's port.
        port: u16,
    },
    /// A jsocket stream over a Unix stream socket at this path.
    Unix(PathBuf),
    /// A jsocket stream in the binary messages of a WebSocket, as a browser sends it, over TCP
    /// (with `TCP_NODELAY`): to a [`Server`](crate::Server)'s TCP port or a bridge.
    WebSocket {
        /// A host name or an IP address (an IPv6 address without brackets).
        host: String,
        /// The server's port.
        port: u16,
        /// The path (and query) asked for in the handshake, starting with `/`.
        path: String,
    },
}

/// Why a text or a [`Target`] does not say where to connect.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// A scheme other than `tcp://`, `unix:` and `ws://`.
    Scheme {
        /// The target as given.
        target: String,
        /// The scheme, without `://`.
        scheme: String,
    },
    /// No host.
    NoHost {
        /// The target as given.
        target: String,
    },
    /// A TCP target without a port, or a port that is not a number up to 65535.
    Port {
        /// The target as given.
        target: String,
    },
    /// A Unix socket target without a path.
    NoPath {
        /// The target as given.
        target: String,
    },
    /// A WebSocket URL that does not parse.
    Url {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FORMS: &str = "host:port, tcp://host:port, unix:PATH or ws://host:port/path";
        match self {
            TargetError::Scheme { target, scheme } => {
                write!(f, "{target}: no {scheme}:// here; give {FORMS}")
            }
            TargetError::NoHost { target } => write!(f, "{target}: no host"),
            TargetError::Port { target } => {
                write!(f, "{target}: no port, or not a port; give {FORMS}")
            }
            TargetError::NoPath { target } => write!(f, "{target}: no socket path"),
            TargetError::Url { target, reason } => write!(f, "{target}: {reason}"),
        }
    }
}

impl std::error::Error for TargetError {}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Target, TargetError> {
        if let Some(path) = text.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(TargetError::NoPath {
                    target: text.to_owned(),
                });
            }
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        if text.starts_with("ws://") {
            return websocket(text);
        }
        let host_port = match text.split_once("://") {
            Some(("tcp", rest)) => rest,
            Some((scheme, _)) => {
                return Err(TargetError::Scheme {
                    target: text.to_owned(),
                    scheme: scheme.to_owned(),
                })
            }
            None => text,
        };
        let (host, port) = split_host_port(host_port).ok_or_else(|| TargetError::Port {
            target: text.to_owned(),
        })?;
        let port = port.parse().map_err(|_| TargetError::Port {
            target: text.to_owned(),
        })?;
        let target = Target::Tcp {
            host: host.to_owned(),
            port,
        };
        target.check().map_err(|_| TargetError::NoHost {
            target: text.to_owned(),
        })?;
        Ok(target)
    }
}

/// `host` and `port` of `host:port` or `[v6]:port`; `None` without a port, or for an IPv6
/// address without brackets (where the port would be a guess).
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    match text.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            Some((host, after.strip_prefix(':')?))
        }
        None => {
            let (host, port) = text.rsplit_once(':')?;
            (!host.contains(':')).then_some((host, port))
        }
    }
}

/// A `ws://` URL as a [`Target::WebSocket`].
fn websocket(text: &str) -> Result<Target, TargetError> {
    let uri: Uri = text
        .parse()
        .map_err(|e: tungstenite::http::uri::InvalidUri| TargetError::Url {
            target: text.to_owned(),
            reason: e.to_string(),
        })?;
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| TargetError::NoHost {
            target: text.to_owned(),
        })?;
    // Read here, not with `Uri::port`: that takes a port over 65535 for none at all.
    let authority = uri.authority().map_or("", |a| a.as_str());
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let port = match split_host_port(host_port) {
        None => 80,
        Some((_, port)) => port.parse().map_err(|_| TargetError::Port {
            target: text.to_owned(),
        })?,
    };
    let path = match uri.path_and_query() {
        Some(p) if p.as_str().starts_with('/') => p.as_str().to_owned(),
        Some(p) => format!("/{p}"),
        None => "/".to_owned(),
    };
    Ok(Target::WebSocket {
        host: host.to_owned(),
        port,
        path,
    })
}

impl Target {
    /// Checks a target built directly as its parser would: a host, a socket path, a WebSocket
    /// path that makes a URL.
    pub fn check(&self) -> Result<(), TargetError> {
        let target = || self.to_string();
        match self {
            Target::Tcp { host, .. } | Target::WebSocket { host, .. } if host.is_empty() => {
                Err(TargetError::NoHost { target: target() })
            }
            Target::Unix(path) if path.as_os_str().is_empty() => {
                Err(TargetError::NoPath { target: target() })
            }
            Target::WebSocket { .. } => self.ws_request().map(drop),
            _ => Ok(()),
        }
    }

    /// The WebSocket handshake request of a [`Target::WebSocket`] (an error for the others).
    pub(crate) fn ws_request(&self) -> Result<Request, TargetError> {
        let url = self.to_string();
        let bad = |reason: String| TargetError::Url {
            target: url.clone(),
            reason,
        };
        match self {
            Target::WebSocket { path, .. } if !path.starts_with('/') => {
                Err(bad("the path does not start with /".to_owned()))
            }
            Target::WebSocket { .. } => url
                .as_str()
                .into_client_request()
                .map_err(|e| bad(e.to_string())),
            _ => Err(bad("not a WebSocket".to_owned())),
        }
    }
}

/// `host:port` with an IPv6 address in brackets.
struct HostPort<'a>(&'a str, u16);

impl fmt::Display for HostPort<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.contains(':') {
            true => write!(f, "[{}]:{}", self.0, self.1),
            false => write!(f, "{}:{}", self.0, self.1),
        }
    }
}

/// The text the target parses from: `host:port`, `unix:PATH`, `ws://host:port/path`.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { host, port } => write!(f, "{}", HostPort(host, *port)),
            Target::Unix(path) => write!(f, "unix:{}", path.display()),
            Target::WebSocket { host, port, path } => {
                write!(f, "ws://{}{path}", HostPort(host, *port))
            }
        }
    }
}

impl TryFrom<&str> for Target {
    type Error = TargetError;

    fn try_from(text: &str) -> Result<Target, TargetError> {
        text.parse()
    }
}

impl TryFrom<&String> for Target {
    type Error = TargetError;

    fn try_from(text: &String) -> Result<Target, TargetError> {
        text.parse()
    }
}

impl From<&Target> for Target {
    fn from(target: &Target) -> Target {
        target.clone()
    }
}

/// TCP to this address.
impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Target {
        Target::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

/// A target that needed no parsing has no parse error: for `Client::connect(target, ..)`.
impl From<Infallible> for TargetError {
    fn from(never: Infallible) -> TargetError {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Target {
        Target::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn each_form_parses_and_prints_back() {
        let cases = [
            ("127.0.0.1:5489", tcp("127.0.0.1", 5489), "127.0.0.1:5489"),
            ("tcp://localhost:1", tcp("localhost", 1), "localhost:1"),
            ("[::1]:5489", tcp("::1", 5489), "[::1]:5489"),
            ("tcp://[::1]:7", tcp("::1", 7), "[::1]:7"),
            (
                "unix:/tmp/a.sock",
                Target::Unix("/tmp/a.sock".into()),
                "unix:/tmp/a.sock",
            ),
            ("unix:rel", Target::Unix("rel".into()), "unix:rel"),
            (
                "unix:///tmp/s",
                Target::Unix("/tmp/s".into()),
                "unix:/tmp/s",
            ),
            (
                "ws://127.0.0.1:5489/",
                Target::WebSocket {
                    host: "127.0.0.1".into(),
                    port: 5489,
                    path: "/".into(),
                },
                "ws://127.0.0.1:5489/",
            ),
            (
                "ws://example.com",
                Target::WebSocket {
                    host: "example.com".into(),
                    port: 80,
                    path: "/".into(),
                },
                "ws://example.com:80/",
            ),
            (
                "ws://[::1]:9/room?x=1",
                Target::WebSocket {
                    host: "::1".into(),
                    port: 9,
                    path: "/room?x=1".into(),
                },
                "ws://[::1]:9/room?x=1",
            ),
        ];
        for (text, target, shown) in cases {
            assert_eq!(text.parse::<Target>(), Ok(target.clone()), "{text}");
            assert_eq!(target.to_string(), shown, "{text}");
            assert_eq!(shown.parse::<Target>(), Ok(target.clone()), "{shown}");
            assert_eq!(target.check(), Ok(()), "{text}");
        }
    }

    #[test]
    fn each_fault_has_its_error() {
        let scheme = |s: &str| TargetError::Scheme {
            target: format!("{s}://h:1/"),
            scheme: s.into(),
        };
        assert_eq!("wss://h:1/".parse::<Target>(), Err(scheme("wss")));
        assert_eq!("http://h:1/".parse::<Target>(), Err(scheme("http")));
        for text in [
            "localhost",
            "h:",
            "h:x",
            "h:65536",
            "::1:80",
            "[::1]",
            "tcp://h",
        ] {
            assert_eq!(
                text.parse::<Target>(),
                Err(TargetError::Port {
                    target: text.into()
                }),
                "{text}"
            );
        }
        assert_eq!(
            ":5489".parse::<Target>(),
            Err(TargetError::NoHost {
                target: ":5489".into()
            })
        );
        assert!(matches!(
            "ws:///x".parse::<Target>(),
            Err(TargetError::NoHost { .. } | TargetError::Url { .. })
        ));
        for text in ["ws://h:99999/", "ws://[::1]:99999/"] {
            assert!(
                matches!(
                    text.parse::<Target>(),
                    Err(TargetError::Port { .. } | TargetError::Url { .. })
                ),
                "{text}"
            );
        }
        assert!(matches!(
            "ws://h h/".parse::<Target>(),
            Err(TargetError::Url { .. })
        ));
        assert_eq!(
            "unix:".parse::<Target>(),
            Err(TargetError::NoPath {
                target: "unix:".into()
            })
        );
        let text = "wss://h:1/".parse::<Target>().map_err(|e| e.to_string());
        assert!(
            text.as_ref()
                .is_err_and(|text| text.contains("ws://host:port/path")),
            "{text:?}"
        );
    }

    #[test]
    fn a_target_built_directly_is_checked_as_parsed() {
        assert!(matches!(
            tcp("", 1).check(),
            Err(TargetError::NoHost { .. })
        ));
        assert!(matches!(
            Target::Unix(PathBuf::new()).check(),
            Err(TargetError::NoPath { .. })
        ));
        let ws = |path: &str| Target::WebSocket {
            host: "h".into(),
            port: 1,
            path: path.into(),
        };
        assert!(matches!(ws("x").check(), Err(TargetError::Url { .. })));
        assert_eq!(ws("/x").check(), Ok(()));
        let request = ws("/x?y").ws_request().map(|r| r.uri().to_string());
        assert_eq!(request, Ok("ws://h:1/x?y".to_owned()));
        let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 7));
        assert_eq!(Target::from(v6), tcp("::1", 7));
    }
}
