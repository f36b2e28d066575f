//! Closing as a state on a virtual clock: each step of a close (the last events and replies,
//! the output written, this side's stream ended, the peer's end awaited), the deadline of each
//! in `poll_timeout`, and what the grace period running out does.

use std::time::Duration;

use jsocket_core::{
    Closed, Config, Connection, Dialect, Encoder, ErrorKind, Event, LocalError, RemoteError,
};
use serde_json::{json, Value};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const GRACE: Duration = Duration::from_secs(2);

/// A way for a connection to close, named for the failure messages.
type Ending = (&'static str, fn(&mut Connection<Value>));

fn conn(config: Config) -> Connection<Value> {
    Connection::new(config.close_grace(GRACE), Duration::ZERO)
}

fn frame(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(Dialect::V2)
        .encode(value, &mut out)
        .expect("encodable");
    out
}

fn write_all(conn: &mut Connection<Value>) -> Vec<u8> {
    let mut wire = Vec::new();
    conn.poll_transmit(&mut wire);
    wire
}

#[test]
fn a_local_close_goes_through_closing_and_draining_to_drained() {
    let mut c = conn(Config::default());
    c.handle_input(ms(10), &frame(&json!({"q": 1})));
    c.close(ms(20));
    assert!(c.is_closed());
    assert!(!c.is_drained());
    assert!(
        !c.wants_input(),
        "closing: nothing more is read until the output is written"
    );
    assert_eq!(c.poll_timeout(), Some(ms(20) + GRACE));
    // What was read before the close is handed out and answered.
    assert_eq!(c.poll_event(), Some(Event::Message(json!({"q": 1}))));
    c.send(ms(30), &json!({"a": 1}))
        .expect("a reply before Closed");
    assert_eq!(c.poll_event(), Some(Event::Closed(Closed::Local)));
    assert_eq!(c.poll_event(), None);
    // The reply is still unsent: no half-close yet, and the same deadline.
    assert!(!c.poll_half_close());
    assert_eq!(c.poll_timeout(), Some(ms(20) + GRACE));
    c.handle_timeout(ms(40));
    let n = c.transmit().len();
    c.handle_written(n - 1);
    assert!(!c.poll_half_close(), "one byte is still unsent");
    c.handle_written(1);
    // Written: this side's stream ends (once), and the peer's end is awaited a grace more.
    assert!(c.poll_half_close());
    assert!(!c.poll_half_close());
    assert!(c.wants_input());
    assert_eq!(c.poll_timeout(), Some(ms(40) + GRACE));
    // What the peer still sends is dropped.
    let before = c.stats().clone();
    c.handle_input(ms(50), &frame(&json!({"late": true})));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.stats(), &before);
    assert!(!c.is_drained());
    c.handle_eof(ms(60));
    assert!(c.is_drained());
    assert!(!c.wants_input());
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.stats().failures.total(), 0);
}

#[test]
fn the_peer_that_never_ends_its_stream_is_let_go_at_the_draining_deadline() {
    let mut c = conn(Config::default());
    c.close(ms(5));
    assert_eq!(c.poll_event(), Some(Event::Closed(Closed::Local)));
    // Nothing to write: draining at once, its deadline from the latest time brought.
    assert!(c.poll_half_close());
    let deadline = ms(5) + GRACE;
    assert_eq!(c.poll_timeout(), Some(deadline));
    c.handle_timeout(deadline - ms(1));
    assert!(!c.is_drained());
    c.handle_timeout(deadline);
    assert!(c.is_drained());
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.poll_event(), None, "no second Closed");
    assert_eq!(c.stats().failures.total(), 0);
}

#[test]
fn output_unread_at_the_deadline_is_dropped_and_the_connection_drained() {
    let mut c = conn(Config::default());
    c.send(ms(1), &json!({"big": "x".repeat(100)}))
        .expect("open");
    c.close(ms(2));
    assert_eq!(c.poll_event(), Some(Event::Closed(Closed::Local)));
    c.handle_written(3);
    assert!(!c.transmit().is_empty());
    c.handle_timeout(ms(2) + GRACE - ms(1));
    assert!(!c.is_drained());
    c.handle_timeout(ms(2) + GRACE);
    assert!(c.is_drained());
    assert!(c.transmit().is_empty(), "nothing more goes out");
    assert!(!c.poll_half_close(), "gone, not half-closed");
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.poll_event(), None);
}

#[test]
fn a_close_waiting_behind_unread_output_says_the_grace_ran_out() {
    let mut c = conn(Config::default().max_pending_output(50));
    let requests: Vec<u8> = (0..2).flat_map(|n| frame(&json!({ "n": n }))).collect();
    c.handle_input(ms(1), &requests);
    assert_eq!(c.poll_event(), Some(Event::Message(json!({"n": 0}))));
    c.send(ms(2), &json!({"a": "y".repeat(60)})).expect("open");
    assert!(c.is_paused());
    c.close(ms(3));
    assert_eq!(
        c.poll_event(),
        None,
        "paused: the rest waits for the peer to read"
    );
    let unsent = c.transmit().len();
    c.handle_timeout(ms(3) + GRACE);
    assert!(c.is_drained());
    assert!(!c.is_paused());
    // What was read is still handed out, but no reply goes out now.
    assert_eq!(c.poll_event(), Some(Event::Message(json!({"n": 1}))));
    assert_eq!(c.send(ms(4), &json!(1)), Err(LocalError::Closed));
    assert_eq!(
        c.poll_event(),
        Some(Event::Closed(Closed::GraceExpired { unsent }))
    );
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.stats().failures.total(), 0, "not the peer's error");
}

#[test]
fn the_peers_end_during_closing_leaves_nothing_to_wait_for() {
    let mut c = conn(Config::default());
    c.send(ms(1), &json!({"last": 1})).expect("open");
    c.close(ms(2));
    c.handle_eof(ms(3));
    assert_eq!(c.poll_event(), Some(Event::Closed(Closed::Local)));
    assert!(!c.is_drained(), "the output is still to write");
    assert_eq!(c.poll_timeout(), Some(ms(2) + GRACE));
    assert!(!write_all(&mut c).is_empty());
    assert!(c.is_drained());
    assert!(!c.poll_half_close(), "the peer has gone: nothing to end");
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn a_peers_eof_is_answered_then_drained_without_a_half_close() {
    let mut c = conn(Config::default());
    c.handle_input(ms(1), &frame(&json!({"q": 1})));
    c.handle_eof(ms(2));
    assert_eq!(c.poll_timeout(), Some(ms(2) + GRACE));
    assert_eq!(c.poll_event(), Some(Event::Message(json!({"q": 1}))));
    c.send(ms(3), &json!({"a": 1}))
        .expect("a reply to the last request");
    assert_eq!(c.poll_event(), Some(Event::Closed(Closed::Eof)));
    assert!(!c.is_drained());
    assert!(!c.wants_input());
    assert!(!write_all(&mut c).is_empty());
    assert!(c.is_drained());
    assert!(!c.poll_half_close());
}

#[test]
fn an_error_or_idle_close_drains_like_a_local_one() {
    let config = Config::default().idle_timeout(Some(ms(100)));
    let endings: [Ending; 2] = [
        ("unknown header", |c| {
            c.handle_input(ms(50), b"GET / HTTP/1.1\r\n")
        }),
        ("idle", |c| c.handle_timeout(ms(100))),
    ];
    for (name, end) in endings {
        let mut c = conn(config.clone());
        end(&mut c);
        let why = match c.poll_event() {
            Some(Event::Closed(why)) => why,
            other => panic!("{name}: {other:?}"),
        };
        assert!(
            matches!(
                (name, &why),
                (
                    "unknown header",
                    Closed::Error(RemoteError::UnknownHeader { .. })
                ) | ("idle", Closed::Idle)
            ),
            "{name}: {why:?}"
        );
        assert!(c.poll_half_close(), "{name}");
        assert!(c.wants_input(), "{name}");
        let deadline = c.poll_timeout().expect("draining has a deadline");
        assert!(
            deadline > ms(50) && deadline <= ms(100) + GRACE,
            "{name}: {deadline:?}"
        );
        c.handle_eof(deadline - ms(1));
        assert!(c.is_drained(), "{name}");
    }
}

#[test]
fn an_open_connection_is_not_drained_and_has_nothing_to_half_close() {
    let mut c = conn(Config::default());
    assert!(!c.is_drained());
    assert!(!c.poll_half_close());
    c.handle_input(ms(1), &frame(&json!(1)));
    c.handle_timeout(ms(1) + GRACE * 10);
    assert!(!c.is_drained());
    assert_eq!(c.stats().failures.get(ErrorKind::Timeout), 0);
}
