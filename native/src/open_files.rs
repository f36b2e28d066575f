//! The open-files limit: raised to what the system allows at start, as Go's runtime and nginx's
//! `worker_rlimit_nofile` do, so that the connection limit is not capped by a desktop's
//! default soft limit (often 1,024) without a word.

/// Descriptors a server needs besides its connections: listeners, the reactor, files served,
/// the standard streams.
const RESERVE: u64 = 64;

/// Raises the soft open-files limit to the hard one; the soft limit now (`None`: unlimited or
/// unknown).
#[cfg(unix)]
fn raise() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum) {
        if current < maximum {
            let raised = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return Some(maximum);
            }
        }
    }
    limit.current
}

#[cfg(not(unix))]
fn raise() -> Option<u64> {
    None
}

/// Raises the open-files limit, and warns (once, at start) when `max_connections` is still
/// more than it allows.
pub(crate) fn prepare(max_connections: usize) {
    let Some(limit) = raise() else { return };
    let allowed = limit.saturating_sub(RESERVE);
    if max_connections as u64 > allowed {
        log::warn!(
            "the open-files limit ({limit}) allows about {allowed} connections, fewer than \
             max_connections ({max_connections}): accepts beyond it fail (raise the hard limit, \
             `ulimit -Hn`, or lower --max-connections)"
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    /// After `raise`, the soft limit is the hard one (when the hard one is finite).
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        use rustix::process::{getrlimit, Resource};
        let soft = super::raise();
        let now = getrlimit(Resource::Nofile);
        assert_eq!(soft, now.current);
        if now.maximum.is_some() {
            assert_eq!(now.current, now.maximum);
        }
    }
}
