//! `latchkey keys` and `latchkey jwks check`: the signing keys of the configured store.

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use latchkey_jwt::{KeyTool, Rotation};
use latchkey_sdk::{ConfigSection, HostSettings};

use super::KeysAction;
use crate::config::LoadedConfig;

/// How long fetching the JWKS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Clock skew past which a check fails: more than the default leeway.
const MAX_SKEW: Duration = Duration::from_secs(60);

/// Largest JWKS body read. A JWKS of a few keys is a few KiB.
const MAX_BODY: usize = 1024 * 1024;

async fn open(config: &LoadedConfig) -> anyhow::Result<KeyTool> {
    let store = crate::store::open(&config.settings.store).await?;
    let server = &config.settings.server;
    let host = HostSettings::new(&config.profile, &server.public_url);
    let section = ConfigSection::new(&config.figment, "jwt");
    Ok(KeyTool::open(section, &host, store).await?)
}

pub(super) async fn run(config: &LoadedConfig, action: KeysAction) -> anyhow::Result<()> {
    let tool = open(config).await?;
    let mut out = std::io::stdout().lock();
    match action {
        KeysAction::List => {
            writeln!(
                out,
                "{:<44} {:<6} {:<9} {:>11} {:>13} {:>11}",
                "kid", "alg", "state", "created_at", "activates_at", "retires_at"
            )?;
            for key in tool.list() {
                let retires = key
                    .retires_at
                    .map_or_else(|| "-".to_owned(), |at| at.to_string());
                writeln!(
                    out,
                    "{:<44} {:<6} {:<9} {:>11} {:>13} {:>11}",
                    key.kid, key.alg, key.state, key.created_at, key.activates_at, retires
                )?;
            }
        }
        KeysAction::Rotate => {
            let rotation = tool.rotate().await?;
            let message = match &rotation {
                Rotation::Rotated { kid, activates_at } => {
                    format!("published next key {kid}; it signs from {activates_at}")
                }
                Rotation::Pending { kid, activates_at } => {
                    format!("next key {kid} is already published and signs from {activates_at}")
                }
                Rotation::NotDue => "no rotation is due".to_owned(),
                Rotation::ClaimedElsewhere => {
                    "another instance is rotating the keys: run keys list in a moment".to_owned()
                }
            };
            writeln!(out, "{message}")?;
        }
    }
    Ok(())
}

pub(super) async fn check_jwks(config: &LoadedConfig, url: &str) -> anyhow::Result<()> {
    let tool = open(config).await?;
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .context("the HTTP client could not be built")?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url} failed"))?
        .error_for_status()
        .with_context(|| format!("GET {url} did not answer 200"))?;
    // The skew is read when the headers arrive, before the body takes any time.
    let skew = skew_check(
        response
            .headers()
            .get("date")
            .and_then(|value| value.to_str().ok()),
    );
    let body = read_capped(response).await?;

    let mut checks = tool.check(&body);
    checks.push(skew);
    let mut out = std::io::stdout().lock();
    for check in &checks {
        let mark = if check.passed { "ok  " } else { "FAIL" };
        writeln!(out, "{mark} {}", check.text)?;
    }
    writeln!(out)?;
    writeln!(out, "In Privy's dashboard, JWT-based auth:")?;
    writeln!(out, "  JWKS endpoint: {url}")?;
    writeln!(out, "  JWT user ID claim: sub")?;
    let failed = checks.iter().filter(|check| !check.passed).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} checks failed", checks.len());
    }
    Ok(())
}

/// Reads the body of `response`, refusing one over [`MAX_BODY`].
async fn read_capped(mut response: reqwest::Response) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .context("the JWKS body could not be read")?
    {
        if body.len() + chunk.len() > MAX_BODY {
            anyhow::bail!("the JWKS body is larger than {MAX_BODY} bytes: not a JWKS");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Compares the server's `Date` with this machine's clock; tokens carry times that both
/// sides must agree on within the leeway.
fn skew_check(date: Option<&str>) -> latchkey_jwt::Check {
    let Some(date) = date else {
        return check(
            false,
            "the JWKS response has no Date header, so clock skew is unknown",
        );
    };
    let Ok(server) = httpdate::parse_http_date(date) else {
        return check(
            false,
            &format!("the Date header {date:?} is not an HTTP date"),
        );
    };
    let now = SystemTime::now();
    let (skew, ahead) = match server.duration_since(now) {
        Ok(ahead) => (ahead, true),
        Err(behind) => (behind.duration(), false),
    };
    // The Date header has whole seconds.
    let text = format!(
        "the server's clock is {} s {} this machine's",
        skew.as_secs(),
        if ahead { "ahead of" } else { "behind" }
    );
    check(skew <= MAX_SKEW, &text)
}

fn check(passed: bool, text: &str) -> latchkey_jwt::Check {
    latchkey_jwt::Check::new(passed, text)
}
