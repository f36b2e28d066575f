//! `native stats`: a running server's statistics, through the control message.

use clap::Parser;
use serde_json::{json, Value};

use super::args::Target;
use super::Outcome;

/// Ask a running server for its statistics (the `{"$jsocket": "stats"}` control message) and
/// print them as JSON.
#[derive(Debug, Parser)]
pub struct StatsArgs {
    #[command(flatten)]
    target: Target,
    /// One line instead of indented JSON.
    #[arg(long)]
    compact: bool,
}

/// Asks and prints.
pub fn run(args: StatsArgs) -> Outcome {
    let mut client = args.target.connect()?;
    let stats: Value = client.request(&json!({"$jsocket": "stats"}))?;
    if stats.get("$jsocket").is_some() {
        return Err(format!("the server does not answer stats: {stats}").into());
    }
    if args.compact {
        println!("{stats}");
    } else {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    }
    client.close()?;
    Ok(())
}
