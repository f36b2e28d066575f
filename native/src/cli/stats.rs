//! `native stats`: a running server's statistics, through the control messages.

use clap::Parser;
use jsocket_core::control::{self, CLIENTS, CONTROL_KEY, STATS};
use jsocket_core::SCOPE_KEY;
use serde_json::{json, Map, Value};

use super::args::Target;
use super::Outcome;

/// Ask a running server for its statistics (the `{"$jsocket": "stats"}` control message) and
/// print them as JSON; with --clients, its clients too (`{"$jsocket": "clients"}`, page by
/// page), which a server answers only from this machine or with its control token.
#[derive(Debug, Parser)]
pub struct StatsArgs {
    #[command(flatten)]
    target: Target,
    /// One line instead of indented JSON.
    #[arg(long)]
    compact: bool,
    /// List every client as well (addresses and identities need this machine or the token).
    #[arg(long)]
    clients: bool,
    /// The server's control token (`native serve --control-token`).
    #[arg(long, value_name = "TOKEN")]
    control_token: Option<String>,
}

/// Asks and prints.
pub fn run(args: StatsArgs) -> Outcome {
    let mut client = args.target.connect()?;
    let request = |kind: &str, extra: &[(&str, Value)]| {
        let mut map = Map::new();
        map.insert(CONTROL_KEY.into(), json!(kind));
        if let Some(token) = &args.control_token {
            map.insert("token".into(), json!(token));
        }
        for (k, v) in extra {
            map.insert((*k).into(), v.clone());
        }
        Value::Object(map)
    };
    let mut stats = answer(client.request(&request(STATS, &[]))?, STATS)?;
    if args.clients {
        let mut all = Vec::new();
        let mut after: Vec<(&str, Value)> = Vec::new();
        loop {
            let page = answer(client.request(&request(CLIENTS, &after))?, CLIENTS)?;
            all.extend(page["clients"].as_array().cloned().unwrap_or_default());
            if page["next"].is_null() {
                break;
            }
            after = vec![("after", page["next"].clone())];
        }
        stats["clients"] = Value::Array(all);
    }
    if args.compact {
        println!("{stats}");
    } else {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    }
    client.close()?;
    Ok(())
}

/// The server's answer of `kind`, or why there is none.
fn answer(reply: Value, kind: &str) -> Result<Value, Box<dyn std::error::Error>> {
    if let Some(error) = control::error_text(&reply) {
        return Err(format!("the server refused the {kind} request: {error}").into());
    }
    // A server with control messages off hands the request to its handler: an echo sends it
    // back as it was, without the answer's tag (the server's scope) or its list.
    let answered = if kind == STATS {
        reply[SCOPE_KEY] == json!("server")
    } else {
        reply.get("clients").is_some()
    };
    if reply[CONTROL_KEY] != json!(kind) || !answered {
        return Err(format!("the server does not answer {kind}: {reply}").into());
    }
    Ok(reply)
}
