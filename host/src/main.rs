//! The `latchkey` binary.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = latchkey::cli::Cli::parse();
    match latchkey::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, so that a config mistake reads as a single sentence in any log.
            eprintln!("latchkey: {}", latchkey_sdk::error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
