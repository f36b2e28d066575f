//! `native send`: netcat for jsocket.

use std::io::{self, BufRead, Write};

use clap::Parser;
use jsocket_core::JsonText;

use super::args::Target;
use super::Outcome;

/// Send JSON messages and print each reply as one JSON line.
///
/// The messages are the arguments, each one JSON value; with none, each line of standard input
/// is one (blank lines are skipped). Any JSON text is sent exactly as written, and each reply is
/// printed as received (but for line breaks between its tokens, printed as spaces).
#[derive(Debug, Parser)]
pub struct SendArgs {
    #[command(flatten)]
    target: Target,
    /// Do not wait for replies (fire and forget).
    #[arg(long)]
    no_reply: bool,
    /// JSON messages to send, e.g. '{"op": "ping"}'.
    #[arg(value_name = "JSON")]
    messages: Vec<String>,
}

/// Sends and prints.
pub fn run(args: SendArgs) -> Outcome {
    let mut client = args.target.connect()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut one = |text: &str, origin: &str| -> Outcome {
        let message =
            JsonText::new(text.to_owned()).map_err(|e| format!("{origin} is not JSON: {e}"))?;
        client.send_json(&message)?;
        if !args.no_reply {
            let reply: JsonText = client.recv()?;
            // One reply a line: a reply's own line breaks are JSON whitespace, blanks here.
            writeln!(out, "{}", reply.as_str().replace(['\n', '\r'], " "))?;
            out.flush()?;
        }
        Ok(())
    };
    if args.messages.is_empty() {
        for (n, line) in io::stdin().lock().lines().enumerate() {
            let line = line?;
            if !line.trim().is_empty() {
                one(&line, &format!("line {}", n + 1))?;
            }
        }
    } else {
        for (n, text) in args.messages.iter().enumerate() {
            one(text, &format!("argument {}", n + 1))?;
        }
    }
    client.close()?;
    Ok(())
}
