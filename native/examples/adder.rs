//! The README's server: adds two numbers for any jsocket client (Python, Rust or a browser).
//! `cargo run -p native --example adder`, then, from another terminal,
//! `cargo run -p native -- send '{"a": 2, "b": 3}'`.

use jsocket::{Context, Handler, Server, ServerConfig};
use serde_json::{json, Value};

struct Adder;

impl Handler for Adder {
    fn on_message(&self, msg: Value, _ctx: &mut Context) -> Option<Value> {
        Some(json!({"sum": msg["a"].as_i64()? + msg["b"].as_i64()?}))
    }
}

fn main() -> std::io::Result<()> {
    Server::bind(ServerConfig::default())?.run_blocking(Adder)
}
