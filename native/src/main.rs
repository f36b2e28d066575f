//! The `native` command: the jsocket server, client and tools on smol.

fn main() {
    eprintln!(
        "jsocket native {}: the smol server and CLI are being built; the protocol core (jsocket-core) is ready.",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
