//! [`OriginPolicy`]: which web pages may open a WebSocket to us.
//!
//! Browsers send the page's origin in the `Origin` header of a WebSocket handshake; checking it
//! is what stops any page on the web from driving a local server (or, through the bridge, the
//! target behind it). Clients that are not browsers send no `Origin` and are let through: they
//! could claim any origin anyway.
//!
//! The `Host` header alone proves nothing: a page on `http://evil.example:5489` whose name the
//! attacker re-points at 127.0.0.1 (DNS rebinding) sends `Origin: http://evil.example:5489` and
//! `Host: evil.example:5489`, the same host. So "the same host" counts only for hosts that no
//! outside name server decides: IP literals, `localhost`, and names this program was given.
//!
//! A server bound to loopback also accepts every page whose origin host is a loopback name or
//! address (`localhost`, `127.0.0.0/8`, `[::1]`): only this machine can reach such a server, and
//! only a server on the browser's own machine can give a page a loopback origin, so a page from
//! a development server on `http://localhost:5173` may talk to `ws://127.0.0.1:5489/`.
//!
//! A refused origin is logged once, at WARN, with the `--allow-origin` value that would admit
//! it: the browser itself only says "403".

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Which `Origin`s a WebSocket handshake is accepted from.
///
/// By default only pages served from the host the client connected to (the `Host` header; the
/// port is not compared), and that only when the host is an IP literal, `localhost`, or a name
/// given with [`trust_host`](Self::trust_host) or [`allow`](Self::allow): a name resolved by
/// DNS could be re-pointed at us by whoever owns it. A server that says it is
/// [`bound_to`](Self::bound_to) loopback also accepts pages of any loopback origin.
/// [`allow`](Self::allow) widens the list; `*` allows every origin and must be given explicitly.
///
/// ```
/// use jsocket::ws::OriginPolicy;
///
/// let same_host = OriginPolicy::default();
/// assert!(same_host.allows(Some("http://127.0.0.1:8000"), Some("127.0.0.1:5489")));
/// assert!(same_host.allows(Some("http://localhost:8000"), Some("localhost:5489")));
/// assert!(!same_host.allows(Some("https://evil.example"), Some("127.0.0.1:5489")));
/// // DNS rebinding: the attacker's name, re-pointed at us, is the same host but not trusted.
/// assert!(!same_host.allows(Some("http://evil.example:5489"), Some("evil.example:5489")));
/// assert!(same_host.allows(None, Some("127.0.0.1:5489"))); // not a browser
///
/// let named = OriginPolicy::default().trust_host("box.lan");
/// assert!(named.allows(Some("http://box.lan:8000"), Some("box.lan:5489")));
///
/// let wider = OriginPolicy::default().allow("https://app.example");
/// assert!(wider.allows(Some("https://app.example"), Some("127.0.0.1:5489")));
/// assert!(OriginPolicy::default().allow("*").allows(Some("https://any.example"), None));
///
/// // A development server's page on localhost, talking to a server bound to 127.0.0.1.
/// let loopback = OriginPolicy::default().bound_to("127.0.0.1");
/// assert!(loopback.allows(Some("http://localhost:5173"), Some("127.0.0.1:5489")));
/// assert!(!same_host.allows(Some("http://localhost:5173"), Some("127.0.0.1:5489")));
/// assert!(!loopback.allows(Some("https://evil.example"), Some("127.0.0.1:5489")));
/// ```
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    any: bool,
    allowed: Vec<String>,
    /// Host names whose same-host pages are accepted, besides IP literals and `localhost`.
    hosts: Vec<String>,
    /// The server is bound to loopback: pages of loopback origins are accepted.
    loopback: bool,
    /// Origins already logged as refused, shared by the policy's clones (one per server).
    refusals: Arc<Mutex<Refusals>>,
}

impl PartialEq for OriginPolicy {
    fn eq(&self, other: &Self) -> bool {
        // What is accepted, not what has been logged.
        (self.any, &self.allowed, &self.hosts, self.loopback)
            == (other.any, &other.allowed, &other.hosts, other.loopback)
    }
}

impl Eq for OriginPolicy {}

impl OriginPolicy {
    /// Also accepts `origin`: a full origin (`https://app.example:8443`), a host name
    /// (`app.example`, any scheme and port), or `*` for every origin.
    #[must_use]
    pub fn allow(mut self, origin: &str) -> Self {
        let origin = origin.trim().trim_end_matches('/');
        if origin == "*" {
            self.any = true;
        } else if !origin.is_empty() {
            let origin = origin.to_ascii_lowercase();
            let host = origin_host(&origin).unwrap_or(&origin).to_owned();
            self = self.trust_host(&host);
            self.allowed.push(origin);
        }
        self
    }

    /// Accepts pages from the same host when the client connected by this name (`box.lan`,
    /// typically the name the server was told to bind): a name this program was given, not one
    /// a page's owner controls.
    #[must_use]
    pub fn trust_host(mut self, host: &str) -> Self {
        let host = host.trim();
        // A bare IPv6 address has colons but no port.
        let host = if host.parse::<IpAddr>().is_ok() {
            host
        } else {
            strip_port(host)
        };
        let host = host.to_ascii_lowercase();
        if !host.is_empty() && !self.hosts.contains(&host) {
            self.hosts.push(host);
        }
        self
    }

    /// Tells the policy the host the server binds (`127.0.0.1`, `localhost`, `[::1]:5489`,
    /// `0.0.0.0`): its name is trusted as with [`trust_host`](Self::trust_host), and when it is
    /// a loopback name or address, pages of every loopback origin are accepted too. Nothing but
    /// this machine can reach a server bound to loopback, and no page from elsewhere has a
    /// loopback origin (a rebound name is still a name, not `localhost`).
    #[must_use]
    pub fn bound_to(mut self, host: &str) -> Self {
        self = self.trust_host(host);
        let host = host.trim();
        let bare = if host.parse::<IpAddr>().is_ok() {
            host
        } else {
            strip_port(host)
        };
        self.loopback |= is_loopback(bare);
        self
    }

    /// Whether every origin is accepted.
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// Whether a handshake with this `Origin` header, sent to this `Host`, is accepted.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        if self.any {
            return true;
        }
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        let origin_host = origin_host(&origin);
        if self.loopback && origin_host.is_some_and(is_loopback) {
            return true;
        }
        if let (Some(theirs), Some(ours)) = (origin_host, host.map(strip_port)) {
            if !theirs.is_empty() && theirs.eq_ignore_ascii_case(ours) && self.trusted(ours) {
                return true;
            }
        }
        self.allowed
            .iter()
            .any(|a| *a == origin || Some(a.as_str()) == origin_host)
    }

    /// [`allows`](Self::allows), and when it does not, logs the refusal: at WARN the first
    /// time this origin is refused (with the `--allow-origin` value that would admit it), at
    /// DEBUG after that.
    pub fn admits(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        if self.allows(origin, host) {
            return true;
        }
        let origin = origin.unwrap_or_default();
        let host = host.unwrap_or_default();
        // A poisoned lock only means another thread panicked while logging: the set is intact.
        let first = self
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first_time(origin);
        match first {
            First::Yes => log::warn!(
                "refused a WebSocket from a page of origin {origin} (sent to host {host}); \
                 to accept that origin's pages, start the server with --allow-origin {}",
                allow_value(origin),
                origin = origin.escape_debug(),
                host = host.escape_debug(),
            ),
            First::LastListed => log::warn!(
                "refused a WebSocket from a page of origin {}; {MAX_LISTED} refused origins \
                 have been named, later ones are logged at debug only",
                origin.escape_debug(),
            ),
            First::No => log::debug!(
                "refused a WebSocket from a page of origin {} (sent to host {})",
                origin.escape_debug(),
                host.escape_debug(),
            ),
        }
        false
    }
}

/// Distinct refused origins named at WARN, at most: a stranger sending made-up origins costs a
/// few lines of log and a few kilobytes, once.
const MAX_LISTED: usize = 64;
/// Bytes of an origin kept to recognise it again (real origins are far shorter).
const MAX_KEPT: usize = 256;

/// Whether a refused origin is logged at WARN.
enum First {
    Yes,
    /// The set has just filled up: said once.
    LastListed,
    No,
}

/// The refused origins already named in the log: a set of bounded size and bounded entries.
#[derive(Debug, Default)]
struct Refusals {
    seen: HashSet<String>,
    full: bool,
}

impl Refusals {
    fn first_time(&mut self, origin: &str) -> First {
        let mut end = origin.len().min(MAX_KEPT);
        while !origin.is_char_boundary(end) {
            end -= 1;
        }
        let key = &origin[..end];
        if self.seen.contains(key) {
            return First::No;
        }
        if self.seen.len() < MAX_LISTED {
            self.seen.insert(key.to_owned());
            return First::Yes;
        }
        if self.full {
            return First::No;
        }
        self.full = true;
        First::LastListed
    }
}

/// What to give `--allow-origin` to admit `origin`: the origin itself, as the browser sent it
/// (`null`, from a file or a sandboxed frame, admits every such page).
fn allow_value(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if origin.is_empty()
        || origin
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'\'' && b != b'"')
    {
        origin
    } else {
        format!("'{}'", origin.escape_debug())
    }
}

/// Whether `host` (without port or brackets) is a loopback name or address: `localhost`,
/// `127.0.0.0/8` or `::1`.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl OriginPolicy {
    /// Whether `host` (from the `Host` header, without its port) names this machine in a way no
    /// outside name server decides.
    fn trusted(&self, host: &str) -> bool {
        host.parse::<IpAddr>().is_ok()
            || host.eq_ignore_ascii_case("localhost")
            || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

/// The host of an origin (`scheme://host[:port]`), without the port; `None` for `null` or
/// anything that is not an origin.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    Some(strip_port(rest))
}

/// `host[:port]` or `[v6][:port]` without the port.
fn strip_port(authority: &str) -> &str {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map_or(authority, |(v6, _)| v6);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_host_ignores_scheme_and_port_only() {
        let p = OriginPolicy::default();
        assert!(p.allows(Some("http://localhost:3000"), Some("localhost:5489")));
        assert!(p.allows(Some("HTTP://LocalHost"), Some("localhost")));
        assert!(p.allows(Some("http://[::1]:80"), Some("[::1]:5489")));
        assert!(!p.allows(
            Some("http://localhost.evil.example"),
            Some("localhost:5489")
        ));
        assert!(!p.allows(Some("null"), Some("localhost:5489")));
        assert!(!p.allows(Some("http://127.0.0.1"), None));
    }

    #[test]
    fn a_rebound_name_is_not_the_same_host() {
        let p = OriginPolicy::default();
        // The attacker's page and the Host its browser sends after the rebinding.
        assert!(!p.allows(Some("http://evil.example:5489"), Some("evil.example:5489")));
        assert!(!p.allows(Some("http://evil.example"), Some("evil.example")));
        assert!(!p.allows(Some("http://sub.localhost"), Some("sub.localhost")));
        // Literals and localhost are fine.
        assert!(p.allows(Some("http://127.0.0.1:8000"), Some("127.0.0.1:5489")));
        assert!(p.allows(Some("http://192.168.1.5"), Some("192.168.1.5:5489")));
        assert!(p.allows(Some("http://localhost"), Some("LOCALHOST:5489")));
        // A name given to the program is trusted, by either way of giving it.
        let named = OriginPolicy::default().trust_host("box.lan:5489");
        assert!(named.allows(Some("http://box.lan:8000"), Some("box.lan:5489")));
        assert!(!named.allows(Some("http://evil.example"), Some("evil.example")));
        let allowed = OriginPolicy::default().allow("https://box.lan:8443");
        assert!(allowed.allows(Some("http://box.lan:8000"), Some("box.lan:5489")));
    }

    #[test]
    fn the_list_matches_whole_origins_or_hosts() {
        let p = OriginPolicy::default()
            .allow("https://app.example:8443/")
            .allow("other.example");
        assert!(p.allows(Some("https://app.example:8443"), Some("127.0.0.1")));
        assert!(!p.allows(Some("https://app.example"), Some("127.0.0.1")));
        assert!(p.allows(Some("http://other.example:1"), Some("127.0.0.1")));
        assert!(!p.allows(Some("http://notother.example"), Some("127.0.0.1")));
        assert!(!p.allows_any());
    }

    #[test]
    fn loopback_pages_reach_a_server_bound_to_loopback() {
        for bind in [
            "127.0.0.1",
            "127.0.0.1:5489",
            "localhost",
            "[::1]:5489",
            "::1",
        ] {
            let p = OriginPolicy::default().bound_to(bind);
            for origin in [
                "http://localhost:5173",
                "https://LOCALHOST",
                "http://127.0.0.1:8000",
                "http://127.45.0.9",
                "http://[::1]:3000",
            ] {
                assert!(
                    p.allows(Some(origin), Some("127.0.0.1:5489")),
                    "{bind} {origin}"
                );
                assert!(
                    p.allows(Some(origin), Some("[::1]:5489")),
                    "{bind} {origin}"
                );
            }
            // Nothing else widens: not a name, not another address, not an opaque origin.
            for origin in [
                "https://evil.example",
                "http://localhost.evil.example",
                "http://sub.localhost",
                "http://192.168.1.5",
                "http://[::ffff:127.0.0.1]",
                "http://0.0.0.0",
                "null",
            ] {
                assert!(
                    !p.allows(Some(origin), Some("127.0.0.1:5489")),
                    "{bind} {origin}"
                );
            }
        }
    }

    #[test]
    fn loopback_pages_do_not_reach_a_server_bound_elsewhere() {
        for p in [
            OriginPolicy::default(),
            OriginPolicy::default().bound_to("0.0.0.0"),
            OriginPolicy::default().bound_to("192.168.1.5"),
            OriginPolicy::default().bound_to("box.lan"),
            OriginPolicy::default().trust_host("127.0.0.1"),
        ] {
            assert!(!p.allows(Some("http://localhost:5173"), Some("127.0.0.1:5489")));
            assert!(!p.allows(Some("http://127.0.0.1:5173"), Some("192.168.1.5:5489")));
            // The same host is still the same host.
            assert!(p.allows(Some("http://127.0.0.1:5173"), Some("127.0.0.1:5489")));
        }
        // The bound name is trusted as with trust_host.
        let named = OriginPolicy::default().bound_to("box.lan:5489");
        assert!(named.allows(Some("http://box.lan:8000"), Some("box.lan:5489")));
        assert_eq!(named, OriginPolicy::default().trust_host("box.lan"));
    }

    #[test]
    fn each_refused_origin_is_named_once_and_the_set_is_bounded() {
        let mut r = Refusals::default();
        assert!(matches!(r.first_time("https://a.example"), First::Yes));
        assert!(matches!(r.first_time("https://a.example"), First::No));
        // A long origin is remembered by its start: it cannot make an entry large.
        let long = format!("https://{}.example", "x".repeat(10_000));
        assert!(matches!(r.first_time(&long), First::Yes));
        assert!(matches!(r.first_time(&long), First::No));
        assert!(r.seen.iter().all(|o| o.len() <= MAX_KEPT));
        for i in r.seen.len()..MAX_LISTED {
            assert!(matches!(
                r.first_time(&format!("http://{i}.example")),
                First::Yes
            ));
        }
        assert!(matches!(
            r.first_time("http://late.example"),
            First::LastListed
        ));
        assert!(matches!(r.first_time("http://later.example"), First::No));
        assert!(matches!(r.first_time("https://a.example"), First::No));
        assert_eq!(r.seen.len(), MAX_LISTED);
    }

    #[test]
    fn the_suggested_value_admits_the_origin() {
        for origin in ["http://LocalHost:5173/", "https://app.example", "null"] {
            let value = allow_value(origin);
            let p = OriginPolicy::default().allow(&value);
            assert!(
                p.allows(Some(origin), Some("127.0.0.1:5489")),
                "{origin}: {value}"
            );
        }
        assert_eq!(
            allow_value("http://LocalHost:5173/"),
            "http://localhost:5173"
        );
        assert_eq!(allow_value("http://a b"), "'http://a b'");
    }

    #[test]
    fn clones_share_what_has_been_logged() {
        let p = OriginPolicy::default();
        let q = p.clone();
        assert!(!p.admits(Some("https://evil.example"), Some("127.0.0.1")));
        assert!(matches!(
            q.refusals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .first_time("https://evil.example"),
            First::No
        ));
        assert!(q.admits(None, Some("127.0.0.1")));
    }
}
