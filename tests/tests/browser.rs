//! The demo page and the CORS policy in headless Chromium, driven by
//! `tests/browser/run.mjs` (playwright-core) over DevTools.
//!
//! The host listens on a fixed loopback port and its public URL is
//! `http://localhost:<port>`, the WebAuthn origin the page runs on. A second server,
//! started here, serves a blank page on every host name, so `http://allowed.localhost`,
//! `http://denied.localhost` and `http://privy.localhost` on its port are three real
//! origins (Chromium resolves `*.localhost` to loopback). Playwright's request
//! interception is not used, because it responds to CORS preflights itself.
//!
//! Privy's origin `https://auth.privy.io` would need a TLS server that Chromium trusts,
//! so the test config allows `http://privy.localhost:<port>` in its place, and the
//! Privy-header preflight runs from there. The exact Privy origin is covered over plain
//! HTTP in `tests/tests/cors.rs`.
//!
//! If `/usr/bin/chromium` or `tests/browser/node_modules` is missing, the test runs
//! `tests/browser/setup.sh`, which installs them. Screenshots of every step go to
//! `target/browser-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use latchkey_tests::{Backend, TestHost, verify_with_jwks};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Maximum time the browser script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// The page of the cross-origin server: `run.mjs` writes each outcome into `#outcome`.
const BLANK_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>Cross-origin page</title></head><body><pre id=\"outcome\"></pre></body></html>";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Installs Chromium and the npm packages when they are missing.
fn ensure_browser_tools() {
    let ready =
        Path::new(CHROMIUM).exists() && browser_dir().join("node_modules/playwright-core").exists();
    if ready {
        return;
    }
    let status = Command::new("bash")
        .arg(browser_dir().join("setup.sh"))
        .status()
        .expect("tests/browser/setup.sh runs");
    assert!(status.success(), "tests/browser/setup.sh failed: {status}");
}

/// Serves [`BLANK_PAGE`] to every request on a free loopback port until the test ends,
/// and returns the port.
async fn start_page_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("page server binds");
    let port = listener.local_addr().expect("page server address").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0_u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                    if request.len() > 64 * 1024 {
                        return;
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{BLANK_PAGE}",
                    BLANK_PAGE.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

/// Returns a loopback port that was free a moment ago, for a host whose public URL must
/// name its port before it listens.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port found");
    listener.local_addr().expect("listener address").port()
}

fn run_script(settings: &Value) -> Value {
    let mut child = Command::new("node")
        .arg(browser_dir().join("run.mjs"))
        .arg(settings.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node starts");
    let started = std::time::Instant::now();
    while child.try_wait().expect("node status").is_none() {
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            panic!("the browser script ran longer than {SCRIPT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("node output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser script failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|error| panic!("script output {last:?}: {error}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_and_cors_in_chromium() {
    ensure_browser_tools();
    let page_port = start_page_server().await;
    let api_port = free_port();
    let api_url = format!("http://localhost:{api_port}");
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{api_port}\"\npublic_url = \"{api_url}\"\n\
         [plugins.cors]\nallowed_origins = [\"{api_url}\", \"http://allowed.localhost:{page_port}\", \
         \"http://privy.localhost:{page_port}\"]\n"
    );
    let host = TestHost::start_with(&Backend::Memory, &config).await;
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots");
    let settings = serde_json::json!({
        "chromium": CHROMIUM,
        "apiUrl": api_url,
        "allowedPage": format!("http://allowed.localhost:{page_port}/"),
        "deniedPage": format!("http://denied.localhost:{page_port}/"),
        "privyPage": format!("http://privy.localhost:{page_port}/"),
        "screenshotDir": screenshots,
    });
    let outcome = tokio::task::spawn_blocking(move || run_script(&settings))
        .await
        .expect("script thread");

    let demo = &outcome["demo"];
    check_demo_path(demo, &host.url("/.well-known/jwks.json")).await;
    // The page logged out with the registration's token, so the server revoked it.
    let revoked = demo["registration"]["token"]
        .as_str()
        .expect("token answered");
    let (status, body) = host.get_with_token("/api/auth/me", revoked).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "token_revoked");
    check_cross_origin(&outcome);
    for shot in outcome["screenshots"].as_array().expect("screenshot list") {
        let path = shot.as_str().expect("screenshot path");
        assert!(Path::new(path).is_file(), "{path} missing");
    }
    host.stop().await;
}

async fn check_demo_path(demo: &Value, jwks_url: &str) {
    let registration = &demo["registration"];
    let login = &demo["login"];
    assert_eq!(registration["status"], 200, "{demo}");
    assert_eq!(login["status"], 200, "{demo}");
    let user_id = registration["userID"].as_str().expect("user ID shown");
    assert!(!user_id.is_empty(), "{demo}");
    assert_eq!(login["userID"], user_id, "{demo}");
    assert_eq!(login["claims"]["sub"], user_id, "{demo}");
    assert!(
        login["signature"]
            .as_str()
            .is_some_and(|text| text.starts_with("valid")),
        "{demo}"
    );

    for step in [registration, login] {
        let token = step["token"].as_str().expect("token answered");
        let verified = verify_with_jwks(jwks_url, token)
            .await
            .expect("token verifies");
        assert_eq!(
            step["kid"],
            verified.kid.as_str(),
            "the page showed another key: {demo}"
        );
        assert_eq!(verified.claims["sub"], user_id, "{demo}");
    }

    let logout = &demo["logout"];
    assert_eq!(logout["status"], 200, "{demo}");
    assert!(
        logout["text"]
            .as_str()
            .is_some_and(|text| text.starts_with("Logged out")),
        "{demo}"
    );

    let problems = &demo["problems"];
    assert_eq!(problems["pageErrors"], serde_json::json!([]), "{demo}");
    assert_eq!(problems["cspViolations"], serde_json::json!([]), "{demo}");
    assert_eq!(problems["consoleErrors"], serde_json::json!([]), "{demo}");
}

fn check_cross_origin(outcome: &Value) {
    let allowed = &outcome["allowed"];
    assert_eq!(allowed["status"], 200, "{allowed}");
    assert_eq!(allowed["hasChallenge"], true, "{allowed}");
    // A JSON POST needs a preflight, and its 400 response is readable by the page.
    assert_eq!(allowed["postStatus"], 400, "{allowed}");
    assert_eq!(allowed["postCode"], "invalid_body", "{allowed}");

    let denied = &outcome["denied"];
    assert_eq!(denied["blocked"], true, "{denied}");
    assert!(
        denied["error"]
            .as_str()
            .is_some_and(|error| error.contains("Failed to fetch")),
        "{denied}"
    );

    let privy = &outcome["privy"];
    assert_eq!(privy["status"], 200, "{privy}");
    assert_eq!(privy["hasChallenge"], true, "{privy}");
}
