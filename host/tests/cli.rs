//! The `latchkey` binary: its subcommands, config errors and signal handling.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_latchkey");

/// Runs the binary with a clean environment plus `env`, from a scratch directory.
fn latchkey(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(BINARY)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir())
        .output()
        .expect("latchkey runs")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn plugins_lists_builtin_plugins_with_order() {
    let output = latchkey(&["plugins"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let row = |name: &str| {
        text.lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} in\n{text}"))
            .to_owned()
    };
    let passkey = row("passkey");
    let jwt = row("jwt");
    assert!(passkey.contains(" yes "), "{passkey}");
    assert!(passkey.contains(" 500 "), "{passkey}");
    assert!(passkey.contains("token_issuer"), "{passkey}");
    assert!(jwt.contains(" 450 "), "{jwt}");
    assert!(jwt.contains("built-in"), "{jwt}");
}

#[test]
fn plugins_shows_disabled_plugin_and_order_override() {
    let output = latchkey(
        &["plugins"],
        &[
            ("LATCHKEY_PLUGINS__PASSKEY__ENABLED", "false"),
            ("LATCHKEY_PLUGINS__JWT__ORDER", "42"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let passkey = text
        .lines()
        .find(|line| line.starts_with("passkey"))
        .unwrap();
    let jwt = text.lines().find(|line| line.starts_with("jwt")).unwrap();
    assert!(passkey.contains(" no "), "{passkey}");
    assert!(jwt.contains(" 42 "), "{jwt}");
}

#[test]
fn config_redacts_jwt_secret() {
    let output = latchkey(&["config"], &[("JWT_SECRET", "correct-horse-battery")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.contains("correct-horse-battery"), "{text}");
    assert!(
        text.contains("key_encryption_secret = \"[redacted]\""),
        "{text}"
    );
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
}

#[test]
fn unknown_key_in_file_fails_in_one_line() {
    let dir = std::env::temp_dir().join(format!("latchkey-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("typo.toml");
    std::fs::write(&file, "[plugins.passkey]\nrp_idd = \"example.com\"\n").unwrap();

    let output = latchkey(&["--config", file.to_str().unwrap(), "serve"], &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains("plugins.passkey.rp_idd"), "{message}");
    assert!(message.contains("typo.toml"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_token_issuer_names_plugin_to_enable() {
    let output = latchkey(&["serve"], &[("LATCHKEY_PLUGINS__JWT__ENABLED", "false")]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("token_issuer"), "{message}");
    assert!(message.contains("enable plugin jwt"), "{message}");
}

#[test]
fn serve_prints_url_and_stops_on_sigterm() {
    let mut child = Command::new(BINARY)
        .arg("serve")
        .env_clear()
        .env("PORT", "0")
        .env("RUST_LOG", "info")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("latchkey starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut url = None;
    while url.is_none() && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if line.contains("latchkey listening") {
            url = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("url="))
                .map(str::to_owned);
        }
    }
    let url = url.expect("a listening line with url=");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let response = reqwest::blocking::get(format!("{url}/.well-known/jwks.json")).unwrap();
    assert_eq!(response.status(), 200);

    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|line| line.contains("shutdown finished")),
        "{rest:?}"
    );
}
