//! The endpoint on a virtual clock: admission and slots, membership, the shared output budget
//! and who loses pushes first, control-plane rights and rates, snapshots, event summaries.

use std::net::IpAddr;
use std::time::Duration;

use jsocket_core::control::{read_envelope, CONTROL_KEY};
use jsocket_core::endpoint::{
    Access, ConnId, ControlPolicy, Delivery, Disconnect, Endpoint, EndpointConfig, Event, Frame,
    Ledger, Peer, Protocol, PushError, Rate, Refusal, Tally, Verdict, ENTRY_COST, FRAME_OVERHEAD,
};
use jsocket_core::{Config, Connection, Dialect, Encoder, Event as ConnEvent, RawPayload, Stats};
use serde_json::{json, Value};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ip(text: &str) -> Peer {
    Peer::Ip(
        text.parse::<IpAddr>()
            .unwrap_or_else(|e| panic!("{text}: {e}")),
    )
}

/// The `n`-th of many distinct addresses.
fn host(n: u32) -> Peer {
    Peer::Ip(IpAddr::from([198, 18, (n >> 8) as u8, n as u8]))
}

fn connect(ep: &mut Endpoint, now: Duration, peer: Peer) -> ConnId {
    ep.handle_connect(now, peer)
        .unwrap_or_else(|e| panic!("refused: {e}"))
}

/// A member: connected and spoken.
fn member(ep: &mut Endpoint, now: Duration, peer: Peer) -> ConnId {
    let id = connect(ep, now, peer);
    ep.handle_identified(now, id, Protocol::Jsocket);
    id
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn ready(ep: &mut Endpoint) -> Vec<ConnId> {
    std::iter::from_fn(|| ep.poll_ready()).collect()
}

fn frame(ep: &mut Endpoint, now: Duration, text: &str) -> Frame {
    ep.frame(now, text.as_bytes().to_vec())
        .unwrap_or_else(|e| panic!("no frame: {e}"))
}

/// Every payload waiting for `id`, taken as a connection with nothing unsent would.
fn take_all<L: Ledger>(ep: &mut Endpoint<L>, now: Duration, id: ConnId) -> Vec<String> {
    std::iter::from_fn(|| ep.poll_push(now, id, 0))
        .map(|f| String::from_utf8_lossy(&f).into_owned())
        .collect()
}

fn reply_json(verdict: &Verdict) -> Value {
    match verdict {
        Verdict::Reply(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        other => panic!("not a reply: {other:?}"),
    }
}

fn assert_consistent(ep: &Endpoint) {
    if let Err(e) = ep.check_consistency() {
        panic!("{e}: {ep:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Admission and slots

#[test]
fn ids_are_unique_and_carry_the_shard() {
    let t = secs(0);
    let mut ep = Endpoint::new(EndpointConfig::default(), t);
    let ids: Vec<ConnId> = (0..5).map(|n| connect(&mut ep, t, host(n))).collect();
    assert_eq!(
        ids.iter().map(|i| i.get()).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    ep.handle_leave(t, ids[4], None);
    // Never reused after a departure.
    assert_eq!(connect(&mut ep, t, host(9)).get(), 6);
    let other = ConnId::new(3, 1);
    assert_eq!((other.shard(), other.get() & 0xffff_ffff_ffff), (3, 1));
    assert_ne!(other, ids[0]);
}

#[test]
fn the_connection_limit_refuses_with_a_reason() {
    let t = secs(0);
    let mut ep = Endpoint::new(EndpointConfig::default().max_connections(3), t);
    for n in 0..3 {
        member(&mut ep, t, host(n));
    }
    let refused = ep.handle_connect(t, host(7));
    assert_eq!(refused, Err(Refusal::Full { max: 3 }));
    let refusal = Refusal::Full { max: 3 };
    assert_eq!(refusal.http_status(), 503);
    assert_eq!(
        refusal.reply(),
        json!({"$jsocket": "error", "error": "server full (3 connections)"})
    );
    assert_eq!(ep.totals().refused_full, 1);
    assert_eq!(ep.connections(), 3);
}

#[test]
fn one_address_cannot_take_every_slot() {
    let t = secs(0);
    let config = EndpointConfig::default()
        .max_connections(100)
        .max_per_address(2);
    let mut ep = Endpoint::new(config, t);
    let a = connect(&mut ep, t, ip("203.0.113.5"));
    connect(&mut ep, t, ip("203.0.113.5"));
    let third = ep.handle_connect(t, ip("203.0.113.5"));
    assert_eq!(third, Err(Refusal::PerAddress { max: 2 }));
    assert_eq!(Refusal::PerAddress { max: 2 }.http_status(), 429);
    // The same host as an IPv4-mapped IPv6 address is the same address.
    assert!(ep.handle_connect(t, ip("::ffff:203.0.113.5")).is_err());
    // One IPv6 host holds a whole /64: other addresses in it are the same host.
    connect(&mut ep, t, ip("2001:db8:1:2::1"));
    connect(&mut ep, t, ip("2001:db8:1:2:ffff::9"));
    assert!(ep.handle_connect(t, ip("2001:db8:1:2::77")).is_err());
    connect(&mut ep, t, ip("2001:db8:1:3::1"));
    // Others still come in; a departure frees the address's slot.
    connect(&mut ep, t, ip("203.0.113.6"));
    ep.handle_leave(t, a, None);
    connect(&mut ep, t, ip("203.0.113.5"));
    // This machine has no per-address limit (a load test, a local proxy).
    for _ in 0..10 {
        connect(&mut ep, t, ip("127.0.0.1"));
        connect(&mut ep, t, Peer::Local);
    }
    assert_eq!(ep.totals().refused_per_address, 3);
    assert_eq!(EndpointConfig::default().get_max_per_address(), 1000);
    assert_eq!(
        EndpointConfig::default()
            .max_connections(50)
            .get_max_per_address(),
        16
    );
}

#[test]
fn under_pressure_the_silent_go_first_and_the_spoken_stay() {
    let t0 = secs(100);
    let config = EndpointConfig::default()
        .max_connections(10)
        .pressure(8)
        .first_bytes_timeout(secs(5));
    let mut ep = Endpoint::new(config, t0);
    // Five quiet clients that have spoken, three that never completed a message.
    let spoken: Vec<ConnId> = (0..5).map(|n| member(&mut ep, t0, host(n))).collect();
    let silent: Vec<ConnId> = (5..8)
        .map(|n| connect(&mut ep, t0 + secs(n as u64), host(n)))
        .collect();
    // At 8 connections the server is under pressure: the first-bytes deadline of the oldest
    // silent one is due.
    assert_eq!(ep.poll_timeout(), Some(t0 + secs(10)));
    ep.handle_timeout(t0 + secs(10));
    assert_eq!(
        events(&mut ep),
        [Event::Disconnect {
            id: silent[0],
            reason: Disconnect::FirstBytesTimeout
        }]
    );
    // Now below the pressure mark: the others wait, however long. (The one deadline left is
    // the summary of the eviction.)
    assert_eq!(ep.poll_timeout(), Some(t0 + secs(20)));
    ep.handle_timeout(t0 + secs(1000));
    let got = events(&mut ep);
    assert!(
        matches!(got.as_slice(), [Event::Summary(t)] if t.evicted_first_bytes == 1),
        "{got:?}"
    );
    ep.handle_leave(t0 + secs(1000), silent[0], None);
    // The spoken ones are never cut for being quiet.
    for id in &spoken {
        assert!(ep.is_member(*id));
    }
    assert_consistent(&ep);
}

#[test]
fn a_newcomer_to_a_full_server_takes_the_slot_of_the_longest_silent() {
    let t0 = secs(0);
    let config = EndpointConfig::default()
        .max_connections(3)
        .first_bytes_timeout(secs(5));
    let mut ep = Endpoint::new(config, t0);
    member(&mut ep, t0, host(1));
    member(&mut ep, t0, host(2));
    let silent = connect(&mut ep, t0, host(3));
    // Connected a moment ago (its first message may be on its way): the newcomer is refused.
    assert_eq!(
        ep.handle_connect(Duration::from_millis(999), host(4)),
        Err(Refusal::Full { max: 3 })
    );
    assert!(events(&mut ep).is_empty());
    // Waiting a second, though well within its first-bytes timeout: the newcomer takes its slot.
    let newcomer = connect(&mut ep, secs(1), host(4));
    // With a first-bytes timeout under a second, that timeout is the wait.
    let short = EndpointConfig::default()
        .max_connections(1)
        .first_bytes_timeout(Duration::from_millis(200));
    let mut quick = Endpoint::new(short, t0);
    let stalled = connect(&mut quick, t0, host(1));
    assert!(quick
        .handle_connect(Duration::from_millis(199), host(2))
        .is_err());
    connect(&mut quick, Duration::from_millis(200), host(2));
    assert_eq!(
        events(&mut quick),
        [Event::Disconnect {
            id: stalled,
            reason: Disconnect::Displaced
        }]
    );
    assert_eq!(
        events(&mut ep),
        [Event::Disconnect {
            id: silent,
            reason: Disconnect::Displaced
        }]
    );
    // The evicted one is out of every count already; reporting it gone later is harmless.
    assert_eq!(ep.counts(secs(1)).unidentified, 1);
    assert!(ep.handle_leave(secs(2), silent, None));
    assert!(!ep.handle_leave(secs(2), silent, None));
    assert_eq!(ep.connections(), 3);
    assert!(ep.client(newcomer).is_some());
    assert_eq!(ep.totals().evicted_first_bytes, 1);
    // Of the silent ones, the one that has waited longest goes first; the spoken never do.
    let later = connect(&mut ep, secs(3), host(5));
    assert_eq!(
        events(&mut ep),
        [Event::Disconnect {
            id: newcomer,
            reason: Disconnect::Displaced
        }]
    );
    ep.handle_leave(secs(3), newcomer, None);
    ep.handle_identified(secs(4), later, Protocol::Jsocket);
    assert_eq!(
        ep.handle_connect(secs(5), host(6)),
        Err(Refusal::Full { max: 3 })
    );
    assert_consistent(&ep);
}

#[test]
fn downloads_count_toward_the_limit_and_are_bounded_in_time() {
    let t0 = secs(0);
    let config = EndpointConfig::default()
        .max_connections(2)
        .download_timeout(Some(secs(60)))
        .summary_interval(secs(3600));
    let mut ep = Endpoint::new(config, t0);
    let d1 = connect(&mut ep, t0, host(1));
    ep.handle_identified(secs(1), d1, Protocol::Http);
    let d2 = connect(&mut ep, t0, host(2));
    ep.handle_identified(secs(2), d2, Protocol::Http);
    assert_eq!(
        ep.handle_connect(secs(3), host(3)),
        Err(Refusal::Full { max: 2 })
    );
    assert!(!ep.is_member(d1));
    assert_eq!(ep.poll_timeout(), Some(secs(61)));
    ep.handle_timeout(secs(61));
    assert_eq!(
        events(&mut ep),
        [Event::Disconnect {
            id: d1,
            reason: Disconnect::DownloadTimeout
        }]
    );
    connect(&mut ep, secs(61), host(3));
    assert_eq!(ep.counts(secs(61)).downloads, 1);
}

// ---------------------------------------------------------------------------------------------
// Membership

#[test]
fn pushes_reach_only_connections_whose_protocol_is_known() {
    let t = secs(0);
    let mut ep = Endpoint::new(EndpointConfig::default(), t);
    let jsocket = member(&mut ep, t, host(1));
    let silent = connect(&mut ep, t, host(2));
    let browser = connect(&mut ep, t, host(3));
    ep.handle_identified(t, browser, Protocol::Http);
    let ws = connect(&mut ep, t, host(4));
    let f = frame(&mut ep, t, r#"{"draw":3}"#);
    assert_eq!(
        ep.broadcast(t, &f),
        Delivery {
            queued: 1,
            dropped: 0
        }
    );
    // A WebSocket joins once its handshake is done; what was broadcast before is not its.
    ep.handle_identified(t, ws, Protocol::WebSocket);
    let g = frame(&mut ep, t, r#"{"draw":4}"#);
    assert_eq!(ep.broadcast(t, &g).queued, 2);
    assert_eq!(ready(&mut ep), [jsocket, ws]);
    assert_eq!(
        take_all(&mut ep, t, jsocket),
        [r#"{"draw":3}"#, r#"{"draw":4}"#]
    );
    assert_eq!(take_all(&mut ep, t, ws), [r#"{"draw":4}"#]);
    assert_eq!(take_all(&mut ep, t, silent), Vec::<String>::new());
    assert_eq!(take_all(&mut ep, t, browser), Vec::<String>::new());
    assert_eq!(ep.push(t, silent, &f), Err(PushError::NotMember(silent)));
    assert_eq!(ep.push(t, browser, &f), Err(PushError::NotMember(browser)));
    // A browser that later upgrades is not turned into a member by a late call.
    ep.handle_identified(t, browser, Protocol::WebSocket);
    assert!(!ep.is_member(browser));
    // A complete jsocket message makes a member too.
    assert!(matches!(
        ep.handle_message(t, silent, r#"{"hi":1}"#),
        Verdict::Pass
    ));
    assert!(ep.is_member(silent));
    // A download is no one on the control plane: what it might send passes, unheard.
    let v = ep.handle_message(t, browser, r#"{"$jsocket": "broadcast", "message": 1}"#);
    assert!(matches!(v, Verdict::Pass));
    assert_eq!(ready(&mut ep), []);
    let gone = ConnId::new(0, 99);
    assert_eq!(ep.push(t, gone, &f), Err(PushError::NoSuchConnection(gone)));
}

// ---------------------------------------------------------------------------------------------
// The output budget

#[test]
fn a_broadcast_is_held_once_and_given_back_when_the_last_receiver_takes_it() {
    let t = secs(0);
    let mut ep = Endpoint::new(EndpointConfig::default(), t);
    let members: Vec<ConnId> = (0..100).map(|n| member(&mut ep, t, host(n))).collect();
    let payload = vec![b'7'; 8 << 20];
    let f = ep
        .frame(t, payload)
        .unwrap_or_else(|e| panic!("no frame: {e}"));
    let cost = f.cost();
    assert!(cost >= (8 << 20) + FRAME_OVERHEAD);
    assert_eq!(ep.broadcast(t, &f).queued, 100);
    drop(f);
    // One 8 MiB payload for 100 receivers costs 8 MiB and an entry each, not 800 MiB.
    assert_eq!(ep.budget().used(), cost + 100 * ENTRY_COST);
    for (i, id) in members.iter().enumerate() {
        let got = ep.poll_push(t, *id, 0).map(|f| f.len());
        assert_eq!(got, Some(8 << 20));
        let left = 99 - i;
        let held = if left > 0 { cost } else { 0 };
        assert_eq!(ep.budget().used(), held + left * ENTRY_COST);
    }
    assert_eq!(ep.counts(t).buffered_output, 0);
}

#[test]
fn a_broadcast_short_of_budget_for_its_last_entry_reaches_all_the_others() {
    let t = secs(0);
    let payload = 1000;
    // Room for the frame and the entries of all members but one.
    let members = 150;
    let limit = payload + FRAME_OVERHEAD + (members - 1) * ENTRY_COST;
    let mut ep = Endpoint::new(EndpointConfig::default().output_budget(limit), t);
    let room: Vec<ConnId> = (0..members as u32)
        .map(|n| member(&mut ep, t, host(n)))
        .collect();
    let f = frame(&mut ep, t, &"x".repeat(payload));
    let delivery = ep.broadcast(t, &f);
    assert_eq!(
        delivery,
        Delivery {
            queued: members - 1,
            dropped: 1
        }
    );
    assert_eq!(
        ep.budget().used(),
        limit,
        "every entry paid for is in an outbox"
    );
    assert_eq!(ep.totals().pushes_dropped, 1);
    assert_consistent(&ep);
    drop(f);
    let taken: usize = room.iter().map(|&id| take_all(&mut ep, t, id).len()).sum();
    assert_eq!(taken, members - 1);
    assert_eq!(ep.budget().used(), 0);
}

#[test]
fn the_budget_is_never_exceeded_and_the_slowest_readers_lose_first() {
    let t = secs(0);
    // Room for about four 1000-byte payloads with their entries.
    let budget = 4 * (1000 + FRAME_OVERHEAD + 3 * ENTRY_COST) + 100;
    let config = EndpointConfig::default().output_budget(budget);
    let mut ep = Endpoint::new(config, t);
    let fast = member(&mut ep, t, host(1));
    let slow = member(&mut ep, t, host(2));
    let slower = member(&mut ep, t, host(3));
    let mut sent = Vec::new();
    for n in 0..10u32 {
        let text = format!("{n:0>1000}");
        let f = ep
            .frame(t, text.clone().into_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        ep.broadcast(t, &f);
        sent.push(text);
        assert!(ep.budget().used() <= budget);
        // The fast reader takes everything at once; the slow one every other time; the
        // slower one never.
        take_all(&mut ep, t, fast);
        if n % 2 == 1 {
            let _ = ep.poll_push(t, slow, 0);
        }
        assert_consistent(&ep);
    }
    let slow_left = take_all(&mut ep, t, slow);
    let slower_left = take_all(&mut ep, t, slower);
    // Nobody holds more than the budget allows; what is left is the newest, in order.
    assert!(!slower_left.is_empty() && slower_left.len() <= 4);
    assert_eq!(slower_left, sent[10 - slower_left.len()..]);
    assert_eq!(slow_left, sent[10 - slow_left.len()..]);
    let dropped = |id| ep.client(id).map_or(0, |c| c.pushes_dropped);
    assert_eq!(dropped(fast), 0, "the fast reader lost nothing");
    assert!(dropped(slower) >= dropped(slow) && dropped(slow) > 0);
    assert_eq!(ep.totals().pushes_dropped, dropped(slow) + dropped(slower));
}

#[test]
fn in_a_large_room_the_budget_still_drops_the_oldest_waiting_entry_first() {
    let t = secs(0);
    let limit = 4 << 20;
    let mut ep = Endpoint::new(EndpointConfig::default().output_budget(limit), t);
    // A room where one more member stops reading at each broadcast: each broadcast is then
    // the oldest entry of one member, and the index of outbox fronts holds more stale ids than
    // it keeps before it sweeps.
    let room: Vec<ConnId> = (0..1500).map(|n| member(&mut ep, t, host(n))).collect();
    let rounds = 12;
    let mut sent = Vec::new();
    for round in 0..rounds {
        let text = format!("round {round}");
        let f = frame(&mut ep, t, &text);
        assert_eq!(ep.broadcast(t, &f).queued, room.len());
        sent.push(text);
        for &id in &room[round + 1..] {
            assert_eq!(take_all(&mut ep, t, id), [sent[round].clone()]);
        }
        assert_consistent(&ep);
    }
    // Each frame made now needs exactly one waiting entry dropped: the globally oldest, the
    // first member's, then the first's or the second's (both wait with round 1).
    let mut held = Vec::new();
    let dropped = |ep: &Endpoint, id| ep.client(id).map_or(0, |c| c.pushes_dropped);
    for n in 1..=2 {
        let spare = limit - ep.budget().used();
        held.push(frame(&mut ep, t, &"x".repeat(spare - FRAME_OVERHEAD + 1)));
        assert_consistent(&ep);
        assert_eq!(dropped(&ep, room[0]).min(1), 1);
        assert_eq!(dropped(&ep, room[0]) + dropped(&ep, room[1]), n);
        assert!(room[2..].iter().all(|&id| dropped(&ep, id) == 0));
    }
    assert_eq!(take_all(&mut ep, t, room[2]), sent[2..]);
    let first = take_all(&mut ep, t, room[0]);
    assert_eq!(first, sent[rounds - first.len()..]);
    assert_consistent(&ep);
}

#[test]
fn a_payload_larger_than_the_whole_budget_drops_nothing_else() {
    let t = secs(0);
    let config = EndpointConfig::default().output_budget(10_000);
    let mut ep = Endpoint::new(config, t);
    let a = member(&mut ep, t, host(1));
    let small = frame(&mut ep, t, "[1]");
    ep.push(t, a, &small).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ep.frame(t, vec![b'1'; 20_000]).err(),
        Some(PushError::OverBudget)
    );
    assert_eq!(take_all(&mut ep, t, a), ["[1]"]);
}

#[test]
fn a_member_over_its_own_limit_misses_pushes_then_is_disconnected() {
    let t0 = secs(0);
    let config = EndpointConfig::default()
        .member_output(2500)
        .member_messages(100)
        .slow_reader_timeout(Some(secs(30)))
        .summary_interval(secs(3600));
    let mut ep = Endpoint::new(config, t0);
    let reader = member(&mut ep, t0, host(1));
    let stuck = member(&mut ep, t0, host(2));
    let kb = "x".repeat(1000);
    let text = format!("\"{kb}\"");
    for n in 0..5 {
        let f = frame(&mut ep, secs(n), &text);
        ep.broadcast(secs(n), &f);
        take_all(&mut ep, secs(n), reader);
    }
    // Two fit the stuck member's 2500 bytes; the three after are dropped for it alone.
    assert_eq!(
        ep.client(stuck).map(|c| (c.outbox_len, c.pushes_dropped)),
        Some((2, 3))
    );
    assert_eq!(ep.client(stuck).and_then(|c| c.behind_since), Some(secs(2)));
    // Its connection reports 3000 bytes unsent: nothing more is handed to it.
    assert!(ep.poll_push(secs(3), stuck, 3000).is_none());
    assert_eq!(ep.poll_timeout(), Some(secs(32)));
    ep.handle_timeout(secs(32));
    assert_eq!(
        events(&mut ep),
        [Event::Disconnect {
            id: stuck,
            reason: Disconnect::SlowReader
        }]
    );
    // Its pushes are given back at once.
    assert!(ep.budget().used() == 0);
    assert!(ep.is_member(reader));
}

#[test]
fn a_member_that_catches_up_is_not_disconnected() {
    let t0 = secs(0);
    let config = EndpointConfig::default()
        .member_messages(1)
        .slow_reader_timeout(Some(secs(30)))
        .summary_interval(secs(3600));
    let mut ep = Endpoint::new(config, t0);
    let m = member(&mut ep, t0, host(1));
    for n in 0..3 {
        let f = frame(&mut ep, t0, &n.to_string());
        ep.broadcast(t0, &f);
    }
    assert_eq!(ep.poll_timeout(), Some(secs(30)));
    assert_eq!(take_all(&mut ep, secs(10), m), ["0"]);
    assert_eq!(ep.client(m).and_then(|c| c.behind_since), None);
    // No slow-reader deadline left, only the summary's.
    assert_eq!(ep.poll_timeout(), Some(secs(3600)));
    ep.handle_timeout(secs(40));
    assert!(events(&mut ep)
        .iter()
        .all(|e| !matches!(e, Event::Disconnect { .. })));
}

#[test]
fn one_message_of_any_size_reaches_a_drained_member() {
    let t = secs(0);
    let config = EndpointConfig::default().member_output(100);
    let mut ep = Endpoint::new(config, t);
    let m = member(&mut ep, t, host(1));
    let big = frame(&mut ep, t, &format!("\"{}\"", "y".repeat(500)));
    assert_eq!(ep.push(t, m, &big), Ok(()));
    assert_eq!(ep.push(t, m, &big), Err(PushError::Full(m)));
    assert_eq!(take_all(&mut ep, t, m).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// The control plane

fn request(ep: &mut Endpoint, now: Duration, id: ConnId, msg: Value) -> Verdict {
    ep.handle_message(now, id, &msg.to_string())
}

#[test]
fn a_broadcast_names_its_sender_by_the_servers_id_and_relays_the_bytes_exactly() {
    let t = secs(0);
    let mut ep = Endpoint::new(EndpointConfig::default(), t);
    let ada = member(&mut ep, t, host(1));
    let eve = member(&mut ep, t, host(2));
    // Eve tries to speak for Ada: the envelope names Eve, whatever her message says.
    let text = r#"{"$jsocket":"broadcast","message":{"from": 1, "name": "ada", "t": 1694867473.8744655, "n": 18446744073709551616, "b": 1, "a": 2}}"#;
    let verdict = ep.handle_message(t, eve, text);
    let Verdict::Broadcast { delivery, frame } = verdict else {
        panic!("not a broadcast: {verdict:?}");
    };
    assert_eq!(
        delivery,
        Delivery {
            queued: 2,
            dropped: 0
        }
    );
    drop(frame);
    for id in [ada, eve] {
        let got = take_all(&mut ep, t, id);
        assert_eq!(got.len(), 1);
        let (from, message) = read_envelope(&got[0]).unwrap_or_else(|| panic!("{got:?}"));
        assert_eq!(from, eve.get());
        assert_eq!(
            message,
            r#"{"from": 1, "name": "ada", "t": 1694867473.8744655, "n": 18446744073709551616, "b": 1, "a": 2}"#
        );
    }
}

#[test]
fn rights_decide_who_may_ask_what() {
    let t = secs(0);
    let policy = ControlPolicy::default().token(Some("open sesame".into()));
    let mut ep = Endpoint::new(EndpointConfig::default().policy(policy), t);
    let stranger = member(&mut ep, t, ip("203.0.113.9"));
    let local = member(&mut ep, t, ip("127.0.0.1"));
    let unix = member(&mut ep, t, Peer::Local);
    // Summary statistics: anyone.
    assert!(matches!(
        request(&mut ep, t, stranger, json!({CONTROL_KEY: "stats"})),
        Verdict::Stats
    ));
    // Per-client detail: not for a stranger without the token...
    let denied = request(&mut ep, t, stranger, json!({CONTROL_KEY: "clients"}));
    assert_eq!(
        reply_json(&denied),
        json!({"$jsocket": "error", "error": "this control request needs a local connection or the control token"})
    );
    let wrong = request(
        &mut ep,
        t,
        stranger,
        json!({CONTROL_KEY: "clients", "token": "open sesamE"}),
    );
    assert!(matches!(wrong, Verdict::Reply(_)));
    // ...but for one with it, and for this machine.
    for (id, token) in [(stranger, Some("open sesame")), (local, None), (unix, None)] {
        let msg = json!({CONTROL_KEY: "clients", "token": token});
        let Verdict::Clients(page) = request(&mut ep, t, id, msg) else {
            panic!("no page for {id}");
        };
        assert!(page.detail);
        assert_eq!(page.ids, [stranger, local, unix]);
    }
    assert_eq!(ep.totals().control_denied, 2);
    // Broadcast turned off.
    let config =
        EndpointConfig::default().policy(ControlPolicy::default().broadcast(Access::Nobody));
    let mut ep = Endpoint::new(config, t);
    let a = member(&mut ep, t, Peer::Local);
    let off = request(
        &mut ep,
        t,
        a,
        json!({CONTROL_KEY: "broadcast", "message": 1}),
    );
    assert_eq!(
        reply_json(&off)["error"],
        json!("this control request is turned off")
    );
    // Control off altogether: everything passes to the application.
    let mut ep = Endpoint::new(EndpointConfig::default().control(false), t);
    let a = member(&mut ep, t, Peer::Local);
    assert!(matches!(
        request(&mut ep, t, a, json!({CONTROL_KEY: "stats"})),
        Verdict::Pass
    ));
}

#[test]
fn client_pages_are_bounded_and_hide_addresses_from_the_untrusted() {
    let t = secs(0);
    let config = EndpointConfig::default()
        .page_size(2)
        .policy(ControlPolicy::default().clients(Access::Anyone));
    let mut ep = Endpoint::new(config, t);
    let ids: Vec<ConnId> = (0..5).map(|n| member(&mut ep, t, host(n))).collect();
    let mut conn: Connection<RawPayload> = Connection::new(Config::default(), t);
    let mut wire = Vec::new();
    let hello = br#"{"client_id": "kiosk-1", "x": 1}"#;
    Encoder::new(Dialect::V2)
        .encode_raw(hello, &mut wire)
        .unwrap_or_else(|e| panic!("{e}"));
    conn.handle_input(t, &wire);
    assert!(matches!(conn.poll_event(), Some(ConnEvent::Message(_))));
    let stats_of = |id: ConnId| (id == ids[0]).then(|| conn.stats());
    // A stranger may page through (the policy allows it here), but sees no address or name.
    let msg = json!({CONTROL_KEY: "clients", "limit": 1000});
    let verdict = request(&mut ep, t, ids[1], msg);
    let Verdict::Clients(page) = verdict else {
        panic!("no page: {verdict:?}");
    };
    assert_eq!(
        (page.ids.as_slice(), page.next, page.detail),
        (&ids[..2], Some(ids[1]), false)
    );
    let reply: Value =
        serde_json::from_slice(&ep.render_clients(secs(2), &page, stats_of)).unwrap_or(Value::Null);
    assert_eq!(reply[CONTROL_KEY], json!("clients"));
    assert_eq!(reply["next"], json!(ids[1].get()));
    let first = &reply["clients"][0];
    assert_eq!(first["id"], json!(ids[0].get()));
    assert_eq!(first["messages_in"], json!(1));
    assert_eq!(first["connected_s"], json!(2.0));
    assert!(first.get("peer").is_none() && first.get("client_id").is_none());
    // The last page says there is no next.
    let msg = json!({CONTROL_KEY: "clients", "after": ids[3].get(), "token": null});
    let Verdict::Clients(last) = request(&mut ep, t, ids[1], msg) else {
        panic!("no page");
    };
    assert_eq!((last.ids.as_slice(), last.next), (&ids[4..], None));
    // A trusted peer sees them.
    let page = jsocket_core::endpoint::ClientsPage {
        detail: true,
        ..page
    };
    let reply: Value =
        serde_json::from_slice(&ep.render_clients(t, &page, stats_of)).unwrap_or(Value::Null);
    assert_eq!(reply["clients"][0]["peer"], json!("198.18.0.0"));
    assert_eq!(reply["clients"][0]["client_id"], json!("kiosk-1"));
}

#[test]
fn control_requests_are_rate_limited_per_connection() {
    let t = secs(0);
    let config = EndpointConfig::default()
        .query_rate(Some(Rate::new(1, 3)))
        .broadcast_rate(Some(Rate::new(2, 2)));
    let mut ep = Endpoint::new(config, t);
    let a = member(&mut ep, t, host(1));
    let b = member(&mut ep, t, host(2));
    let stats = |ep: &mut Endpoint, id, now| {
        matches!(
            request(ep, now, id, json!({CONTROL_KEY: "stats"})),
            Verdict::Stats
        )
    };
    assert!((0..3).all(|_| stats(&mut ep, a, t)));
    assert!(!stats(&mut ep, a, t));
    // Another connection has its own bucket; time refills this one.
    assert!(stats(&mut ep, b, t));
    assert!(stats(&mut ep, a, secs(1)));
    let bc = |ep: &mut Endpoint| {
        let v = request(ep, t, a, json!({CONTROL_KEY: "broadcast", "message": 1}));
        matches!(v, Verdict::Broadcast { .. })
    };
    assert!(bc(&mut ep) && bc(&mut ep) && !bc(&mut ep));
    assert_eq!(ep.totals().rate_limited, 2);
}

#[test]
fn a_connection_that_used_up_its_rate_is_not_read_until_its_next_request_is_allowed() {
    let t = secs(0);
    let config = EndpointConfig::default()
        .query_rate(Some(Rate::new(10, 2)))
        .broadcast_rate(Some(Rate::new(4, 1)));
    let mut ep = Endpoint::new(config, t);
    let a = member(&mut ep, t, host(1));
    let b = member(&mut ep, t, host(2));
    let stats = json!({CONTROL_KEY: "stats"});
    assert!(matches!(
        request(&mut ep, t, a, stats.clone()),
        Verdict::Stats
    ));
    assert_eq!(ep.held_until(t, a), None, "a token left: read on");
    assert!(matches!(
        request(&mut ep, t, a, stats.clone()),
        Verdict::Stats
    ));
    let until = Duration::from_millis(100);
    assert_eq!(ep.held_until(t, a), Some(until), "the burst spent");
    assert_eq!(ep.held_until(t, b), None, "the others are read as before");
    // What was read meanwhile is refused, and the hold stays.
    assert!(matches!(
        request(&mut ep, t, a, stats.clone()),
        Verdict::Reply(_)
    ));
    assert_eq!(ep.held_until(t, a), Some(until));
    // The hold ends when the next request is allowed, and that request is.
    assert_eq!(ep.held_until(until, a), None);
    assert!(matches!(request(&mut ep, until, a, stats), Verdict::Stats));
    assert_eq!(
        ep.held_until(until, a),
        Some(secs(0) + Duration::from_millis(200))
    );
    // Broadcasts: their own rate gives their own hold.
    let bc = json!({CONTROL_KEY: "broadcast", "message": 1});
    assert!(matches!(
        request(&mut ep, t, b, bc),
        Verdict::Broadcast { .. }
    ));
    assert_eq!(ep.held_until(t, b), Some(Duration::from_millis(250)));
    // An ordinary message holds nothing; a connection gone is not held.
    let c = member(&mut ep, t, host(3));
    assert!(matches!(
        request(&mut ep, t, c, json!({"x": 1})),
        Verdict::Pass
    ));
    assert_eq!(ep.held_until(t, c), None);
    ep.handle_leave(t, b, None);
    assert_eq!(ep.held_until(t, b), None);
}

#[test]
fn invalid_and_oversize_control_requests_get_an_error_reply() {
    let t = secs(0);
    let config = EndpointConfig::default().max_message_size(100);
    let mut ep = Endpoint::new(config, t);
    let a = member(&mut ep, t, host(1));
    let v = request(&mut ep, t, a, json!({CONTROL_KEY: "reboot"}));
    assert_eq!(
        reply_json(&v)["error"],
        json!("unknown control message \"reboot\"")
    );
    let v = request(
        &mut ep,
        t,
        a,
        json!({CONTROL_KEY: "broadcast", "message": "z".repeat(50)}),
    );
    let text = reply_json(&v)["error"].as_str().map(str::to_owned);
    assert!(text.is_some_and(|t| t.starts_with("broadcast too large")));
    assert_eq!(ep.poll_ready(), None);
}

#[test]
fn an_open_control_plane_on_a_public_address_is_flagged() {
    let loopback: Vec<IpAddr> = vec![
        "127.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])),
        "::1".parse().unwrap_or(IpAddr::from([0; 4])),
    ];
    let public: Vec<IpAddr> = vec![
        "127.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])),
        IpAddr::from([0, 0, 0, 0]),
    ];
    let open = ControlPolicy::default();
    assert_eq!(open.exposure(true, loopback.clone()), None);
    let warning = open.exposure(true, public.clone());
    assert_eq!(
        warning.as_ref().map(|w| w.open.clone()),
        Some(vec!["broadcast"])
    );
    let text = warning.map(|w| w.to_string()).unwrap_or_default();
    assert!(
        text.contains("0.0.0.0") && text.contains("no control token"),
        "{text}"
    );
    assert_eq!(open.exposure(false, public.clone()), None);
    let tokened = open.clone().token(Some("t".into()));
    assert_eq!(tokened.exposure(true, public.clone()), None);
    let closed = open.clone().broadcast(Access::Trusted);
    assert_eq!(closed.exposure(true, public.clone()), None);
    let wide = closed.clients(Access::Anyone);
    assert_eq!(
        wide.exposure(true, public).map(|w| w.open),
        Some(vec!["clients"])
    );
    // An empty token is no token.
    assert!(!open.token(Some(String::new())).has_token());
}

// ---------------------------------------------------------------------------------------------
// Statistics and summaries

fn stats_with(messages: u64) -> Stats {
    let mut conn: Connection<Value> = Connection::new(Config::default(), secs(0));
    let mut wire = Vec::new();
    for _ in 0..messages {
        Encoder::new(Dialect::V2)
            .encode(&json!([1]), &mut wire)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    conn.handle_input(secs(0), &wire);
    conn.stats().clone()
}

#[test]
fn the_snapshot_is_built_once_per_interval_and_totals_survive_departures() {
    let t = secs(0);
    let mut ep = Endpoint::new(EndpointConfig::default().snapshot_interval(secs(1)), t);
    let a = member(&mut ep, t, host(1));
    let b = member(&mut ep, t, host(2));
    let (sa, sb) = (stats_with(3), stats_with(4));
    let mut builds = 0;
    let json_at = |ep: &mut Endpoint, now, live: Vec<&Stats>, builds: &mut u32| -> Value {
        let snap = ep.snapshot(now, || {
            *builds += 1;
            live
        });
        serde_json::from_slice(&snap.json).unwrap_or(Value::Null)
    };
    let first = json_at(&mut ep, t, vec![&sa, &sb], &mut builds);
    assert_eq!(first[CONTROL_KEY], json!("stats"));
    assert_eq!(
        (first["messages_in"].clone(), first["members"].clone()),
        (json!(7), json!(2))
    );
    // Within the interval the same snapshot is reused: the adapter's list is not walked.
    for ms in [1, 500, 999] {
        let again = json_at(&mut ep, Duration::from_millis(ms), vec![], &mut builds);
        assert_eq!(again, first);
    }
    assert_eq!(builds, 1);
    // B leaves: its traffic stays in the totals.
    ep.handle_leave(secs(1), b, Some(&sb));
    let later = json_at(&mut ep, secs(1), vec![&sa], &mut builds);
    assert_eq!(builds, 2);
    assert_eq!(later["messages_in"], json!(7));
    assert_eq!(
        (later["connections"].clone(), later["disconnected"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(later["uptime_s"], json!(1.0));
    assert!(
        later.get("clients").is_none(),
        "the summary names no client"
    );
    ep.handle_leave(secs(2), a, Some(&sa));
}

#[test]
fn repeated_events_come_out_as_one_summary_per_interval() {
    let t0 = secs(0);
    let config = EndpointConfig::default()
        .max_connections(1)
        .member_messages(1)
        .slow_reader_timeout(None)
        .summary_interval(secs(10));
    let mut ep = Endpoint::new(config, t0);
    assert_eq!(ep.poll_timeout(), None, "no timer while nothing is counted");
    let m = member(&mut ep, t0, host(1));
    for n in 0..1000u64 {
        let now = Duration::from_millis(n * 5);
        let f = frame(&mut ep, now, "1");
        ep.broadcast(now, &f);
        let _ = ep.handle_connect(now, host(2));
        ep.handle_rejected(now, m);
    }
    assert_eq!(events(&mut ep), []);
    // The first refusal came at 0: the summary is due 10 s after.
    assert_eq!(ep.poll_timeout(), Some(secs(10)));
    ep.handle_timeout(Duration::from_millis(9_999));
    assert_eq!(events(&mut ep), []);
    ep.handle_timeout(secs(10));
    let got = events(&mut ep);
    let [Event::Summary(tally)] = got.as_slice() else {
        panic!("{got:?}");
    };
    assert_eq!(
        (tally.pushes_dropped, tally.refused_full, tally.rejected),
        (999, 1000, 1000)
    );
    assert_eq!(
        tally.to_string(),
        "refused_full=1000 pushes_dropped=999 rejected=1000"
    );
    assert_eq!(ep.poll_timeout(), None);
    ep.handle_timeout(secs(100));
    assert_eq!(events(&mut ep), []);
    assert!(Tally::default().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Everyone leaves

#[test]
fn when_everyone_leaves_every_count_is_back_to_zero() {
    let t = secs(0);
    let config = EndpointConfig::default()
        .output_budget(50_000)
        .max_per_address(5);
    let mut ep = Endpoint::new(config, t);
    let mut ids = Vec::new();
    for n in 0..30u32 {
        let id = connect(&mut ep, t, host(n % 7));
        match n % 3 {
            0 => ep.handle_identified(t, id, Protocol::Jsocket),
            1 => ep.handle_identified(t, id, Protocol::Http),
            _ => {}
        }
        ids.push(id);
    }
    // The adapter holds the last few frames (as a shard forwarding them would): those stay
    // counted until it lets them go.
    let mut held = std::collections::VecDeque::new();
    for n in 0..50 {
        let text = format!("[{n}, \"{}\"]", "p".repeat(n * 40));
        if let Ok(f) = ep.frame(t, text.into_bytes()) {
            ep.broadcast(t, &f);
            held.push_back(f);
        }
        if held.len() > 3 {
            held.pop_front();
        }
        assert!(ep.budget().used() <= 50_000);
    }
    let _ = ep.poll_push(t, ids[0], 0);
    ep.handle_timeout(secs(3600));
    for id in &ids {
        ep.handle_leave(secs(3600), *id, None);
    }
    assert_consistent(&ep);
    drop(held);
    let c = ep.counts(secs(3600));
    assert_eq!(
        (c.connections, c.members, c.downloads, c.unidentified),
        (0, 0, 0, 0)
    );
    assert_eq!(ep.budget().used(), 0);
    assert_eq!(ep.ledger().addresses(), 0);
    assert_eq!(ep.poll_ready(), None);
}

// ---------------------------------------------------------------------------------------------
// Shards

/// A ledger shared by two shards on one thread (a server with threads would share it behind a
/// lock or atomics): the seam through which server-wide limits hold across shards.
#[derive(Clone)]
struct SharedLedger(std::rc::Rc<std::cell::RefCell<jsocket_core::endpoint::LocalLedger>>);

impl Ledger for SharedLedger {
    fn admit(&mut self, peer: &Peer) -> Result<(), Refusal> {
        self.0.borrow_mut().admit(peer)
    }
    fn release(&mut self, peer: &Peer) {
        self.0.borrow_mut().release(peer)
    }
    fn connections(&self) -> usize {
        self.0.borrow().connections()
    }
    fn max_connections(&self) -> usize {
        self.0.borrow().max_connections()
    }
}

#[test]
fn shards_share_the_limits_and_count_a_broadcast_once() {
    use jsocket_core::endpoint::{LocalLedger, OutputBudget};
    let t = secs(0);
    let config = EndpointConfig::default();
    let ledger = SharedLedger(std::rc::Rc::new(std::cell::RefCell::new(LocalLedger::new(
        3, 2,
    ))));
    let budget = OutputBudget::new(1 << 20);
    let mut shards: Vec<Endpoint<SharedLedger>> = (0..2)
        .map(|n| Endpoint::with_ledger(config.clone(), ledger.clone(), budget.clone(), n, t))
        .collect();
    let a = shards[0]
        .handle_connect(t, host(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let b = shards[1]
        .handle_connect(t, host(1))
        .unwrap_or_else(|e| panic!("{e}"));
    // Ids are unique across shards; the per-address and the connection limits are the server's.
    assert_ne!(a, b);
    assert_eq!((a.shard(), b.shard()), (0, 1));
    assert_eq!(
        shards[0].handle_connect(t, host(1)),
        Err(Refusal::PerAddress { max: 2 })
    );
    let c = shards[0]
        .handle_connect(t, host(2))
        .unwrap_or_else(|e| panic!("{e}"));
    // All of them members (none to make room for a newcomer): the server is full for all.
    for (shard, id) in [(0, a), (1, b), (0, c)] {
        shards[shard].handle_identified(t, id, Protocol::Jsocket);
    }
    assert_eq!(
        shards[1].handle_connect(t, host(3)),
        Err(Refusal::Full { max: 3 })
    );
    assert_eq!(ledger.connections(), 3);
    // A broadcast from shard 0 is handed to shard 1: one payload for both.
    let text = r#"{"$jsocket": "broadcast", "message": [1, 2]}"#;
    let Verdict::Broadcast { frame, delivery } = shards[0].handle_message(t, a, text) else {
        panic!("no broadcast");
    };
    assert_eq!(delivery.queued, 2);
    assert_eq!(shards[1].broadcast(t, &frame).queued, 1);
    let cost = frame.cost();
    drop(frame);
    assert_eq!(budget.used(), cost + 3 * ENTRY_COST);
    let mut totals = shards[0].counts(t);
    totals.merge(&shards[1].counts(t));
    assert_eq!(
        (totals.connections, totals.members, totals.pushes_queued),
        (3, 3, 3)
    );
    assert_eq!(totals.buffered_output, budget.used());
    for (shard, id) in [(0, a), (1, b), (0, c)] {
        assert_eq!(take_all(&mut shards[shard], t, id).len(), 1);
        shards[shard].handle_leave(t, id, None);
    }
    assert_eq!((ledger.connections(), budget.used()), (0, 0));
}

#[test]
fn a_member_whose_pushes_were_all_dropped_is_woken_and_can_catch_up() {
    let t = secs(0);
    // Room for one 100-byte payload with its entry, not for two.
    let budget = 2 * (100 + FRAME_OVERHEAD) + ENTRY_COST - 50;
    let config = EndpointConfig::default()
        .output_budget(budget)
        .slow_reader_timeout(Some(secs(30)))
        .summary_interval(secs(3600));
    let mut ep = Endpoint::new(config, t);
    let a = member(&mut ep, t, host(1));
    let b = member(&mut ep, t, host(2));
    let text = format!("\"{}\"", "a".repeat(98));
    let first = frame(&mut ep, t, &text);
    ep.push(t, a, &first).unwrap_or_else(|e| panic!("{e}"));
    drop(first);
    assert_eq!(ready(&mut ep), [a]);
    // A push to B needs the room A's waiting entry holds: A loses it, with nothing left queued.
    let second = frame(&mut ep, secs(1), &text);
    ep.push(secs(1), b, &second)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ep.client(a).map(|c| (c.outbox_len, c.behind_since)),
        Some((0, Some(secs(1))))
    );
    // A is woken all the same, finds nothing, and so has caught up: no disconnection follows.
    assert_eq!(ready(&mut ep), [a, b]);
    assert!(ep.poll_push(secs(2), a, 0).is_none());
    assert_eq!(ep.client(a).and_then(|c| c.behind_since), None);
    ep.handle_timeout(secs(100));
    assert_eq!(events(&mut ep), []);
}
