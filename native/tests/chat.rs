//! The chat handler keeps what a peer chooses bounded.

mod common;

use common::start;
use native::handlers::{Chat, MAX_NAME_CHARS};
use native::ServerConfig;
use serde_json::{json, Value};

#[test]
fn a_long_name_is_cut_to_the_limit() {
    let server = start(ServerConfig::default(), Chat::new);
    let mut client = server.client();
    let long = "é".repeat(MAX_NAME_CHARS * 100);
    client.send(&json!({"join": long})).unwrap();
    let joined: Value = client.recv().unwrap();
    let kept: String = long.chars().take(MAX_NAME_CHARS).collect();
    assert_eq!(joined["name"], json!(kept));
    client.send(&json!("hi")).unwrap();
    let said: Value = client.recv().unwrap();
    assert_eq!(said["name"], json!(kept));
    assert_eq!(said["message"], json!("hi"));
}
