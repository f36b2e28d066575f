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

/// Which `Origin`s a WebSocket handshake is accepted from.
///
/// By default only pages served from the host the client connected to (the `Host` header; the
/// port is not compared), and that only when the host is an IP literal, `localhost`, or a name
/// given with [`trust_host`](Self::trust_host) or [`allow`](Self::allow): a name resolved by
/// DNS could be re-pointed at us by whoever owns it. [`allow`](Self::allow) widens the list;
/// `*` allows every origin and must be given explicitly.
///
/// ```
/// use native::ws::OriginPolicy;
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
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    any: bool,
    allowed: Vec<String>,
    /// Host names whose same-host pages are accepted, besides IP literals and `localhost`.
    hosts: Vec<String>,
}

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
        let host = if host.parse::<std::net::IpAddr>().is_ok() {
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
        if let (Some(theirs), Some(ours)) = (origin_host, host.map(strip_port)) {
            if !theirs.is_empty() && theirs.eq_ignore_ascii_case(ours) && self.trusted(ours) {
                return true;
            }
        }
        self.allowed
            .iter()
            .any(|a| *a == origin || Some(a.as_str()) == origin_host)
    }
}

impl OriginPolicy {
    /// Whether `host` (from the `Host` header, without its port) names this machine in a way no
    /// outside name server decides.
    fn trusted(&self, host: &str) -> bool {
        host.parse::<std::net::IpAddr>().is_ok()
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
}
