//! `native stats`: a running server's statistics, through the control message.

use clap::Parser;
use jsocket_core::control::{self, Control, CONTROL_KEY};
use serde_json::Value;

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
    let stats: Value = client.request(&Control::Stats.to_value())?;
    if let Some(error) = control::error_text(&stats) {
        return Err(format!("the server refused the stats request: {error}").into());
    }
    // A server with control messages off hands the request to its handler: an echo sends it back.
    if stats.get(CONTROL_KEY).is_some() {
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
