//! The command line: `serve`, `plugins`, `config`, and with the jwt plugin `keys` and
//! `jwks check`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{self, ConfigSources, LoadedConfig};
use crate::plugins::Catalog;

#[cfg(feature = "jwt")]
mod keys;

/// Passkey authentication server: WebAuthn login that ends in a JWT verifiable from a JWKS.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version)]
pub struct Cli {
    /// Config profile: development or production. Default: LATCHKEY_PROFILE, else
    /// development.
    #[arg(long, global = true)]
    pub profile: Option<String>,

    /// TOML file merged over the profile; repeat to merge several, later ones win.
    #[arg(long = "config", short = 'c', global = true, value_name = "FILE")]
    pub config_files: Vec<PathBuf>,

    /// The subcommand to run. Default: serve.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Start the server and run until SIGINT or SIGTERM.
    Serve,
    /// List every plugin found, its version, whether it is enabled, its order, the
    /// capabilities it provides, requires and uses, and where it came from (built-in, or
    /// its library file), after checking the config of every enabled plugin.
    Plugins,
    /// Check the configuration, then print it merged, with secrets redacted.
    Config,
    /// List the signing keys in the store, or force a rotation.
    #[cfg(feature = "jwt")]
    Keys {
        /// The key action.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Check a published JWKS the way Privy reads it.
    #[cfg(feature = "jwt")]
    Jwks {
        /// The check to run.
        #[command(subcommand)]
        action: JwksAction,
    },
}

/// `latchkey keys` subcommands.
#[cfg(feature = "jwt")]
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum KeysAction {
    /// Print every key: kid, algorithm, state, and when it was created, signs from and
    /// retires.
    List,
    /// Publish the next key now, through the claim every instance uses; it signs once
    /// publish_ahead has passed.
    Rotate,
}

/// `latchkey jwks` subcommands.
#[cfg(feature = "jwt")]
#[derive(Debug, Clone, Subcommand)]
pub enum JwksAction {
    /// Fetch the JWKS at URL, verify canary tokens of the signing and the next key against
    /// it, report clock skew, and print the values to enter in Privy's dashboard.
    Check {
        /// The public JWKS URL, like https://auth.example.com/.well-known/jwks.json.
        url: String,
    },
}

impl Cli {
    /// Returns the config sources the flags and the environment select.
    #[must_use]
    pub fn sources(&self) -> ConfigSources {
        ConfigSources::from_cli(self.profile.clone(), self.config_files.clone())
    }
}

/// Runs `cli` to completion.
///
/// # Errors
///
/// Whatever stopped the command, with a message for the operator.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = config::load(&cli.sources())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Plugins => print_plugins(&config),
        Command::Config => print_config(&config),
        #[cfg(feature = "jwt")]
        Command::Keys { action } => keys::run(&config, action).await,
        #[cfg(feature = "jwt")]
        Command::Jwks {
            action: JwksAction::Check { url },
        } => keys::check_jwks(&config, &url).await,
    }
}

async fn serve(config: LoadedConfig) -> anyhow::Result<()> {
    crate::telemetry::init(&config.settings.log)?;
    let server = crate::server::start(config).await?;
    server.run_until_signal().await;
    Ok(())
}

fn print_plugins(config: &LoadedConfig) -> anyhow::Result<()> {
    let catalog = Catalog::discover(config)?;
    crate::server::check_plugin_configs(config, &catalog)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<20} {:<10} {:<8} {:>6}  {:<34} {:<30} {:<34} source",
        "name", "version", "enabled", "order", "provides", "requires", "uses"
    )?;
    for entry in catalog.entries() {
        let plugin = &entry.plugin;
        writeln!(
            out,
            "{:<20} {:<10} {:<8} {:>6}  {:<34} {:<30} {:<34} {}",
            plugin.name(),
            plugin.version(),
            if entry.enabled { "yes" } else { "no" },
            entry.order,
            list_or_dash(&plugin.provides()),
            list_or_dash(&plugin.requires()),
            list_or_dash(&plugin.uses()),
            entry.source,
        )?;
    }
    Ok(())
}

fn list_or_dash(names: &[&str]) -> String {
    if names.is_empty() {
        "-".to_owned()
    } else {
        names.join(",")
    }
}

fn print_config(config: &LoadedConfig) -> anyhow::Result<()> {
    let catalog = Catalog::discover(config)?;
    crate::server::check_plugin_configs(config, &catalog)?;
    let text = config::redacted_toml(&config.figment)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "# profile: {}", config.profile)?;
    out.write_all(text.as_bytes())?;
    Ok(())
}
