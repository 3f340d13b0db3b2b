//! The security_headers and cors plugins over HTTP: their headers on every kind of
//! response, early exits of other plugins and of the host included, caching rules for
//! the JWKS and for tokens, and the Content-Security-Policy of HTML.
//!
//! No route of a built-in plugin panics, so this test binary registers a plugin of its
//! own, `panic_route`, whose `GET /test/panic` panics, to reach the host's 500.

use latchkey_sdk::prelude::*;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, Router};
use latchkey_tests::{Backend, Device, TestHost};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PRIVY: &str = "https://auth.privy.io";
const LOGIN_CHALLENGE: &str = "/api/auth/challenge/login";
const REGISTER_CHALLENGE: &str = "/api/auth/challenge/register";
const REGISTER: &str = "/api/auth/register-passkey";
const LOGIN: &str = "/api/auth/login-passkey";
const JWKS: &str = "/.well-known/jwks.json";

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `method path` from a page of `origin` with `headers` and `body`.
async fn send(
    host: &TestHost,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let mut request = host.http().request(method, host.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap_or_default().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get_from(host: &TestHost, path: &str, origin: &str) -> Answer {
    send(host, Method::GET, path, &[("origin", origin)], None).await
}

async fn post_from(host: &TestHost, path: &str, origin: &str, body: &Value) -> Answer {
    let bytes = serde_json::to_vec(body).expect("JSON serializes");
    send(host, Method::POST, path, &[("origin", origin)], Some(bytes)).await
}

/// Checks the default security headers and the CORS grant for `origin` on `answer`.
fn assert_outer_headers(answer: &Answer, origin: &str) {
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{answer:?}");
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{answer:?}"
    );
    assert_eq!(
        answer.header("x-xss-protection"),
        Some("1; mode=block"),
        "{answer:?}"
    );
    assert_eq!(
        answer.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains; preload"),
        "{answer:?}"
    );
    let permissions = answer.header("permissions-policy").unwrap_or_default();
    for feature in [
        "geolocation=()",
        "camera=()",
        "microphone=()",
        "payment=()",
        "usb=()",
        "interest-cohort=()",
        "fullscreen=(self)",
    ] {
        assert!(permissions.contains(feature), "{feature}: {answer:?}");
    }
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(origin),
        "{answer:?}"
    );
    assert_eq!(
        answer.header("access-control-allow-credentials"),
        Some("true"),
        "{answer:?}"
    );
    assert!(varies_on_origin(answer), "{answer:?}");
}

/// Checks the default caching headers, which forbid every cache.
fn assert_no_cache(answer: &Answer) {
    assert_eq!(
        answer.header("cache-control"),
        Some("no-store, no-cache, must-revalidate, proxy-revalidate"),
        "{answer:?}"
    );
    assert_eq!(answer.header("pragma"), Some("no-cache"), "{answer:?}");
    assert_eq!(answer.header("expires"), Some("0"), "{answer:?}");
}

fn varies_on_origin(answer: &Answer) -> bool {
    answer.headers.get_all("vary").iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',')
                .any(|name| name.trim().eq_ignore_ascii_case("origin"))
        })
    })
}

fn assert_error_code(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.json()["code"], code, "{answer:?}");
}

#[tokio::test]
async fn headers_on_success() {
    let host = TestHost::start(&Backend::Memory).await;
    let answer = get_from(&host, LOGIN_CHALLENGE, PRIVY).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_outer_headers(&answer, PRIVY);
    assert_no_cache(&answer);
    assert!(
        answer.header("content-security-policy").is_none(),
        "{answer:?}"
    );
    host.stop().await;
}

#[tokio::test]
async fn headers_on_preflight_without_route() {
    let host = TestHost::start(&Backend::Memory).await;
    for path in [REGISTER, "/no/such/route"] {
        let answer = send(
            &host,
            Method::OPTIONS,
            path,
            &[
                ("origin", PRIVY),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type,x-privy-token,x-privy-client-id,authorization",
                ),
            ],
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{path}: {answer:?}");
        assert!(answer.body.is_empty(), "{path}: {answer:?}");
        assert_outer_headers(&answer, PRIVY);
        let methods = answer
            .header("access-control-allow-methods")
            .unwrap_or_default();
        assert!(methods.contains("POST"), "{path}: {answer:?}");
        let headers = answer
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for name in [
            "x-privy-token",
            "x-privy-client-id",
            "authorization",
            "content-type",
        ] {
            assert!(headers.contains(name), "{name} on {path}: {answer:?}");
        }
        assert_eq!(answer.header("access-control-max-age"), Some("600"));
        // The rate limiter never saw the preflight.
        assert!(answer.header("x-ratelimit-limit").is_none(), "{answer:?}");
    }
    host.stop().await;
}

#[tokio::test]
async fn headers_on_bad_request() {
    let host = TestHost::start(&Backend::Memory).await;
    let answer = get_from(&host, REGISTER_CHALLENGE, PRIVY).await;
    assert_error_code(&answer, StatusCode::BAD_REQUEST, "invalid_display_name");
    assert_outer_headers(&answer, PRIVY);
    assert_no_cache(&answer);
    host.stop().await;
}

#[tokio::test]
async fn headers_on_failed_login() {
    // A passkey registered on one host is unknown to another with its own store, so the
    // login fails authentication with 401.
    let first = TestHost::start(&Backend::Memory).await;
    let second = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    let path = format!("{REGISTER_CHALLENGE}?displayName=Ada");
    let options = first.get(&path).await.1;
    let created = device.register(&options).await.expect("device registers");
    let (status, body) = first
        .post(REGISTER, &json!({ "attestationResponse": created }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let options = second.get(LOGIN_CHALLENGE).await.1;
    let assertion = device.login(&options).await.expect("device signs");
    let answer = post_from(
        &second,
        LOGIN,
        PRIVY,
        &json!({ "authenticationResponse": assertion }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert_outer_headers(&answer, PRIVY);
    assert_no_cache(&answer);
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn headers_on_not_found_and_wrong_method() {
    let host = TestHost::start(&Backend::Memory).await;
    let answer = get_from(&host, "/no/such/route", PRIVY).await;
    assert_error_code(&answer, StatusCode::NOT_FOUND, "not_found");
    assert_outer_headers(&answer, PRIVY);
    assert_no_cache(&answer);

    let answer = send(
        &host,
        Method::DELETE,
        LOGIN_CHALLENGE,
        &[("origin", PRIVY)],
        None,
    )
    .await;
    assert_error_code(
        &answer,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert_outer_headers(&answer, PRIVY);
    assert_no_cache(&answer);
    host.stop().await;
}

#[tokio::test]
async fn headers_on_oversized_body() {
    let host = TestHost::start_with(&Backend::Memory, "[server]\nbody_limit = 1024\n").await;
    let body = vec![b' '; 4096];
    let answer = send(
        &host,
        Method::POST,
        REGISTER,
        &[("origin", PRIVY)],
        Some(body),
    )
    .await;
    assert_error_code(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_outer_headers(&answer, PRIVY);
    assert_no_cache(&answer);
    host.stop().await;
}

#[tokio::test]
async fn headers_on_rate_limited() {
    let rule = "[[plugins.rate_limit.rules]]\nname = \"login\"\npath_prefix = \"/api/auth\"\n\
                limit = 1\nwindow = 3600\non_store_error = \"deny\"\n";
    let host = TestHost::start_with(&Backend::Memory, rule).await;
    let first = get_from(&host, LOGIN_CHALLENGE, PRIVY).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    let answer = get_from(&host, LOGIN_CHALLENGE, PRIVY).await;
    assert_error_code(&answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_outer_headers(&answer, PRIVY);
    assert_no_cache(&answer);
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{answer:?}");
    assert!(exposed.contains("x-ratelimit-remaining"), "{answer:?}");
    host.stop().await;
}

#[tokio::test]
async fn jwks_keeps_its_cache_control() {
    let host = TestHost::start(&Backend::Memory).await;
    let answer = get_from(&host, JWKS, PRIVY).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(
        answer.header("cache-control"),
        Some("public, max-age=300"),
        "{answer:?}"
    );
    assert!(answer.header("pragma").is_none(), "{answer:?}");
    assert!(answer.header("expires").is_none(), "{answer:?}");
    assert_outer_headers(&answer, PRIVY);
    host.stop().await;
}

#[tokio::test]
async fn token_answers_never_cached() {
    // Even a path override that allows caching does not reach a token.
    let config = "[[plugins.security_headers.paths]]\npath_prefix = \"/api/auth\"\n\
                  headers = { cache-control = \"public, max-age=60\", pragma = \"\", expires = \"\" }\n";
    let host = TestHost::start_with(&Backend::Memory, config).await;
    let mut device = Device::new();
    let options = host
        .get(&format!("{REGISTER_CHALLENGE}?displayName=Ada"))
        .await
        .1;
    let created = device.register(&options).await.expect("device registers");
    let answer = post_from(
        &host,
        REGISTER,
        PRIVY,
        &json!({ "attestationResponse": created }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(answer.json()["token"].is_string(), "{answer:?}");
    assert_eq!(
        answer.header("cache-control"),
        Some("no-store"),
        "{answer:?}"
    );
    assert_eq!(answer.header("pragma"), Some("no-cache"), "{answer:?}");

    let options = host.get(LOGIN_CHALLENGE).await.1;
    let assertion = device.login(&options).await.expect("device signs");
    let answer = post_from(
        &host,
        LOGIN,
        PRIVY,
        &json!({ "authenticationResponse": assertion }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(
        answer.header("cache-control"),
        Some("no-store"),
        "{answer:?}"
    );

    // A response without a token under the same prefix gets the override.
    let answer = get_from(&host, LOGIN_CHALLENGE, PRIVY).await;
    assert_eq!(
        answer.header("cache-control"),
        Some("public, max-age=60"),
        "{answer:?}"
    );
    assert!(answer.header("pragma").is_none(), "{answer:?}");
    host.stop().await;
}

#[tokio::test]
async fn html_page_gets_csp() {
    let host = TestHost::start(&Backend::Memory).await;
    let answer = get_from(&host, "/", PRIVY).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(
        answer
            .header("content-type")
            .is_some_and(|value| value.starts_with("text/html")),
        "{answer:?}"
    );
    let csp = answer.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{answer:?}");
    assert!(!csp.contains("unsafe-inline"), "{answer:?}");
    assert_outer_headers(&answer, PRIVY);

    let script = get_from(&host, "/demo/app.js", PRIVY).await;
    assert_eq!(script.status, StatusCode::OK, "{script:?}");
    assert!(
        script.header("content-security-policy").is_none(),
        "{script:?}"
    );
    host.stop().await;
}

#[tokio::test]
async fn configured_headers_replace_defaults() {
    let config = "[plugins.security_headers.headers]\nx-frame-options = \"SAMEORIGIN\"\n\
                  x-xss-protection = \"\"\nreferrer-policy = \"no-referrer\"\n\
                  [[plugins.security_headers.paths]]\npath_prefix = \"/.well-known\"\n\
                  headers = { x-frame-options = \"\" }\n";
    let host = TestHost::start_with(&Backend::Memory, config).await;
    let answer = get_from(&host, LOGIN_CHALLENGE, PRIVY).await;
    assert_eq!(answer.header("x-frame-options"), Some("SAMEORIGIN"));
    assert!(answer.header("x-xss-protection").is_none(), "{answer:?}");
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));

    let answer = get_from(&host, JWKS, PRIVY).await;
    assert!(answer.header("x-frame-options").is_none(), "{answer:?}");
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
    host.stop().await;
}

#[tokio::test]
async fn invalid_header_stops_startup() {
    let config =
        "[plugins.security_headers.headers]\nx-frame-options = \"DENY\\r\\nSet-Cookie: a=b\"\n";
    let error = TestHost::try_start(&Backend::Memory, config)
        .await
        .expect_err("a header value with a line break was accepted");
    let message = format!("{error:#}");
    assert!(
        message.contains("plugins.security_headers.headers.x-frame-options"),
        "{message}"
    );
}

#[tokio::test]
async fn demo_page_absent_when_disabled() {
    let host = TestHost::start_with(&Backend::Memory, "[plugins.demo]\nenabled = false\n").await;
    let answer = get_from(&host, "/", PRIVY).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
    host.stop().await;
}

#[test]
fn demo_enabled_only_in_development() {
    for (profile, expected) in [("development", true), ("production", false)] {
        let sources = latchkey::config::ConfigSources {
            profile: Some(profile.to_owned()),
            files: Vec::new(),
            environment: false,
            overrides: vec!["[server]\npublic_url = \"https://login.example.com\"\n".to_owned()],
        };
        let config = latchkey::config::load(&sources).expect("config loads");
        let enabled: bool = config
            .figment
            .extract_inner("plugins.demo.enabled")
            .expect("plugins.demo.enabled is set");
        assert_eq!(enabled, expected, "{profile}");
    }
}

/// A plugin whose only route panics, so that the host's panic catcher answers with 500.
#[derive(Default)]
struct PanicRoutePlugin;

impl Plugin for PanicRoutePlugin {
    fn name(&self) -> &'static str {
        "panic_route"
    }

    fn version(&self) -> &'static str {
        "0.0.0"
    }

    fn default_order(&self) -> i32 {
        800
    }

    fn configure(
        &self,
        _section: ConfigSection<'_>,
        _host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        Ok(Box::new(PanicRoute))
    }
}

struct PanicRoute;

#[async_trait]
impl ConfiguredPlugin for PanicRoute {
    async fn start(
        self: Box<Self>,
        _context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        Ok(Contribution::new().route(Router::with_path("test/panic").get(PanicRoute)))
    }
}

#[async_trait]
impl Handler for PanicRoute {
    async fn handle(&self, _: &mut Request, _: &mut Depot, _: &mut Response, _: &mut FlowCtrl) {
        panic!("the test route panics on purpose");
    }
}

latchkey_sdk::register_plugin!(PanicRoutePlugin);

#[tokio::test]
async fn headers_on_panic() {
    let host = TestHost::start(&Backend::Memory).await;
    let answer = get_from(&host, "/test/panic", PRIVY).await;
    assert_error_code(&answer, StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    assert_outer_headers(&answer, PRIVY);
    assert_no_cache(&answer);
    host.stop().await;
}
