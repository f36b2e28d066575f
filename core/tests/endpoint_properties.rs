//! Properties of the endpoint over random sequences: broadcasts, readers of every speed, joins
//! and leaves, under random budgets and limits.

use std::collections::BTreeMap;
use std::time::Duration;

use jsocket_core::control::read_envelope;
use jsocket_core::endpoint::{ConnId, Endpoint, EndpointConfig, Peer, Protocol, Verdict};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Join,
    Leave(usize),
    Broadcast(usize),
    /// A reader takes up to this many pushes.
    Read(usize, usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => Just(Step::Join),
        1 => any::<usize>().prop_map(Step::Leave),
        4 => (0usize..2000).prop_map(Step::Broadcast),
        4 => (any::<usize>(), 0usize..4).prop_map(|(r, n)| Step::Read(r, n)),
    ]
}

proptest! {
    /// Whatever the readers do: the budget is never overspent, each member gets a subsequence
    /// of the broadcasts made while it was a member, in order, every one of them counted as
    /// taken, dropped or given back; when all have left, nothing is held.
    #[test]
    fn broadcasts_reach_members_in_order_within_the_budget(
        budget in 500usize..40_000,
        member_output in 100usize..8_000,
        member_messages in 1usize..6,
        steps in proptest::collection::vec(step(), 1..120),
    ) {
        let t = Duration::ZERO;
        let config = EndpointConfig::default()
            .output_budget(budget)
            .member_output(member_output)
            .member_messages(member_messages);
        let mut ep = Endpoint::new(config, t);
        // Per member: the number of the broadcast it joined after, and the last it received.
        let mut members: BTreeMap<ConnId, (u64, Option<u64>)> = BTreeMap::new();
        let mut sent = 0u64;
        let mut host = 0u32;
        for s in steps {
            match s {
                Step::Join => {
                    host += 1;
                    let peer = Peer::Ip(std::net::IpAddr::from(host.to_be_bytes()));
                    let id = ep.handle_connect(t, peer).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    ep.handle_identified(t, id, Protocol::Jsocket);
                    members.insert(id, (sent, None));
                }
                Step::Leave(n) if !members.is_empty() => {
                    let id = *members.keys().nth(n % members.len()).unwrap_or(&ConnId::new(0, 0));
                    prop_assert!(ep.handle_leave(t, id, None));
                    members.remove(&id);
                }
                Step::Broadcast(len) => {
                    let text = format!("[{sent},\"{}\"]", "b".repeat(len));
                    sent += 1;
                    if let Ok(frame) = ep.frame(t, text.into_bytes()) {
                        let d = ep.broadcast(t, &frame);
                        prop_assert_eq!(d.queued + d.dropped, members.len());
                    }
                }
                Step::Read(n, count) if !members.is_empty() => {
                    let id = *members.keys().nth(n % members.len()).unwrap_or(&ConnId::new(0, 0));
                    for _ in 0..count {
                        let Some(frame) = ep.poll_push(t, id, 0) else { break };
                        let text = std::str::from_utf8(&frame).unwrap_or("");
                        let number: u64 = text[1..].split(',').next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX);
                        let entry = members.get_mut(&id).ok_or_else(|| TestCaseError::fail("no member"))?;
                        prop_assert!(number >= entry.0, "a broadcast from before it joined");
                        prop_assert!(entry.1.is_none_or(|last| number > last), "out of order");
                        entry.1 = Some(number);
                    }
                }
                _ => {}
            }
            prop_assert!(ep.budget().used() <= budget);
            prop_assert_eq!(ep.check_consistency(), Ok(()));
        }
        let ids: Vec<ConnId> = members.keys().copied().collect();
        for id in ids {
            ep.handle_leave(t, id, None);
        }
        prop_assert_eq!(ep.budget().used(), 0);
        prop_assert_eq!(ep.connections(), 0);
    }

    /// A broadcast relays any message text exactly: the envelope's message is the bytes sent.
    #[test]
    fn a_broadcast_relays_any_json_text_exactly(
        value in proptest::collection::vec((any::<String>(), any::<f64>(), any::<i64>()), 0..4),
        spaces in "[ \t\n]{0,3}",
    ) {
        let t = Duration::ZERO;
        let mut ep = Endpoint::new(EndpointConfig::default(), t);
        let id = ep.handle_connect(t, Peer::Local).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Numbers as written by hand, keys in their order, escapes kept.
        let mut message = String::from("{");
        for (i, (k, f, n)) in value.iter().enumerate() {
            if i > 0 { message.push_str(&format!(",{spaces}")); }
            let key = serde_json::to_string(k).unwrap_or_default();
            let float = if f.is_finite() { format!("{f:e}") } else { "1.0E+2".into() };
            message.push_str(&format!("{key}:{spaces}[{float},{n},{n}.000]"));
        }
        message.push('}');
        let text = format!("{{\"$jsocket\":\"broadcast\",{spaces}\"message\":{spaces}{message}{spaces}}}");
        prop_assume!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
        let verdict = ep.handle_message(t, id, &text);
        let Verdict::Broadcast { frame, .. } = verdict else {
            return Err(TestCaseError::fail(format!("{verdict:?}")));
        };
        let envelope = std::str::from_utf8(&frame).unwrap_or("");
        prop_assert_eq!(read_envelope(envelope), Some((id.get(), message.as_str())));
    }
}

proptest! {
    /// An adapter that honours the hold never has a request refused for its rate: a connection
    /// is held exactly while its next request would be refused, and never for more than a
    /// second.
    #[test]
    fn a_connection_read_only_when_not_held_is_never_refused_for_its_rate(
        per_second in 1u32..200,
        burst in 1u32..8,
        steps in proptest::collection::vec((0usize..3, any::<bool>(), 0u64..30_000_000), 1..200),
    ) {
        use jsocket_core::endpoint::Rate;
        let rate = Some(Rate::new(per_second, burst));
        let config = EndpointConfig::default().query_rate(rate).broadcast_rate(rate);
        let mut now = Duration::from_secs(1);
        let mut ep = Endpoint::new(config, now);
        let ids: Vec<ConnId> = (1u8..=3)
            .map(|n| {
                let peer = Peer::Ip(std::net::IpAddr::from([127, 0, 0, n]));
                let id = ep.handle_connect(now, peer).map_err(|e| TestCaseError::fail(e.to_string()))?;
                ep.handle_identified(now, id, Protocol::Jsocket);
                Ok(id)
            })
            .collect::<Result<_, TestCaseError>>()?;
        for (who, stats, wait_ns) in steps {
            now += Duration::from_nanos(wait_ns);
            let id = ids[who];
            if let Some(until) = ep.held_until(now, id) {
                prop_assert!(until > now && until <= now + Duration::from_secs(1), "{until:?} at {now:?}");
                continue;
            }
            let text = if stats {
                r#"{"$jsocket":"stats"}"#
            } else {
                r#"{"$jsocket":"broadcast","message":1}"#
            };
            let verdict = ep.handle_message(now, id, text);
            prop_assert!(!matches!(verdict, Verdict::Reply(_)), "refused at {:?}", now);
            while ep.poll_push(now, id, 0).is_some() {}
        }
        prop_assert_eq!(ep.totals().rate_limited, 0);
    }
}
