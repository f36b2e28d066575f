//! One statistics schema: a connection's statistics and a server's summary carry the same tag
//! and the same names for what they share.

use std::time::Duration;

use jsocket_core::endpoint::Summary;
use jsocket_core::{Config, Connection, Event, StatField, SCOPE_KEY};
use serde_json::{json, Value};

#[test]
fn a_connection_and_a_server_write_one_tagged_schema() {
    let t = Duration::from_millis(1500);
    let mut a: Connection<Value> = Connection::new(Config::default(), Duration::ZERO);
    let mut b: Connection<Value> = Connection::new(Config::default(), Duration::ZERO);
    a.send(t, &json!({"client_id": "kiosk", "n": 1})).unwrap();
    let mut wire = Vec::new();
    a.poll_transmit(&mut wire);
    b.handle_input(t, &wire);
    assert!(matches!(b.poll_event(), Some(Event::Message(_))));

    let conn = b.stats().to_json();
    assert_eq!(conn["$jsocket"], "stats");
    assert_eq!(conn[SCOPE_KEY], "connection");
    assert_eq!(conn["messages_in"], 1);
    assert_eq!(conn["bytes_in"], wire.len() as u64);
    assert_eq!(conn["dialect"], "v2");
    assert_eq!(conn["client_id"], "kiosk");
    assert_eq!(conn["last_in_s"], 1.5);
    assert_eq!(conn["last_out_s"], Value::Null);
    assert_eq!(conn["failures"]["bad_crc"], 0);
    // Every field of the schema is written, and nothing else but the tag and scope.
    let fields = b.stats().fields();
    assert_eq!(conn.as_object().unwrap().len(), fields.len() + 2);

    let server = Summary::default().to_json();
    assert_eq!(server["$jsocket"], "stats");
    assert_eq!(server[SCOPE_KEY], "server");
    // The traffic a server sums has the names a connection's statistics give it.
    for (name, field) in fields {
        if matches!(field, StatField::Count(_) | StatField::Failures(_)) {
            assert!(server.get(name).is_some(), "the summary lacks {name}");
        }
    }
}
