//! The `native` command: a jsocket server, client and tools on smol.
//!
//! With no arguments it serves: an echo server on 127.0.0.1:5489, as `native serve`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
