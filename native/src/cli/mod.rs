//! The command line: one file per subcommand, and the arguments they share.

mod args;
mod bench;
mod bridge;
mod send;
mod serve;
mod stats;
mod web;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jsocket on smol: length-prefixed JSON messaging, wire-compatible with Python's jsocket.
///
/// With no subcommand, runs `serve` with its defaults: an echo server on 127.0.0.1:5489.
#[derive(Debug, Parser)]
#[command(name = "native", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a server (echo or chat) until Ctrl-C.
    Serve(serve::ServeArgs),
    /// Send JSON messages to a server and print each reply as one JSON line.
    Send(send::SendArgs),
    /// Ask a running server for its statistics and print them as JSON.
    Stats(stats::StatsArgs),
    /// Load a running echo server and report messages/s, MB/s and latency percentiles.
    Bench(bench::BenchArgs),
    /// Bridge WebSocket clients to a jsocket server that speaks only TCP (as websockify).
    Bridge(bridge::BridgeArgs),
}

/// The result of a subcommand.
type Outcome = Result<(), Box<dyn std::error::Error>>;

/// Parses the arguments, sets up logging (stderr, `RUST_LOG`, default `info`) and runs.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(serve::ServeArgs::parse_from(["serve"])));
    let outcome = match command {
        Command::Serve(args) => serve::run(args),
        Command::Send(args) => send::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Bridge(args) => bridge::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
