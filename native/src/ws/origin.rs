//! [`OriginPolicy`]: which web pages may open a WebSocket to us.
//!
//! Browsers send the page's origin in the `Origin` header of a WebSocket handshake; checking it
//! is what stops any page on the web from driving a local server (or, through the bridge, the
//! target behind it). Clients that are not browsers send no `Origin` and are let through: they
//! could claim any origin anyway.

/// Which `Origin`s a WebSocket handshake is accepted from.
///
/// By default only pages served from the host the client connected to (the `Host` header; the
/// port is not compared). [`allow`](Self::allow) widens the list; `*` allows every origin and
/// must be given explicitly.
///
/// ```
/// use native::ws::OriginPolicy;
///
/// let same_host = OriginPolicy::default();
/// assert!(same_host.allows(Some("http://127.0.0.1:8000"), Some("127.0.0.1:5489")));
/// assert!(!same_host.allows(Some("https://evil.example"), Some("127.0.0.1:5489")));
/// assert!(same_host.allows(None, Some("127.0.0.1:5489"))); // not a browser
///
/// let wider = OriginPolicy::default().allow("https://app.example");
/// assert!(wider.allows(Some("https://app.example"), Some("127.0.0.1:5489")));
/// assert!(OriginPolicy::default().allow("*").allows(Some("https://any.example"), None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    any: bool,
    allowed: Vec<String>,
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
            self.allowed.push(origin.to_ascii_lowercase());
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
            if !theirs.is_empty() && theirs.eq_ignore_ascii_case(ours) {
                return true;
            }
        }
        self.allowed
            .iter()
            .any(|a| *a == origin || Some(a.as_str()) == origin_host)
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
