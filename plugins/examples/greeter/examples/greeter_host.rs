//! The `latchkey` binary with the greeter compiled in: the host of the plugin author's
//! guide, and the compiled-in side of the library benchmark.
//!
//! `cargo run -p latchkey-example-greeter --example greeter_host -- plugins` lists the
//! greeter as `built-in`.

use std::process::ExitCode;

use clap::Parser;
// Linking the crate is enough: `register_plugin!` registers it.
use latchkey_example_greeter as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = latchkey::cli::Cli::parse();
    match latchkey::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey: {}", latchkey_sdk::error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
