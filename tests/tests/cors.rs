//! The cors plugin over HTTP: which origins, methods and headers get a grant, and the
//! config mistakes that stop start-up. Each refused case checks that no CORS header at
//! all comes back, while `Vary: Origin` still does.

use latchkey_tests::{Backend, TestHost};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

const PRIVY: &str = "https://auth.privy.io";
const LOGIN_CHALLENGE: &str = "/api/auth/challenge/login";
const REGISTER: &str = "/api/auth/register-passkey";

/// Origins that differ from an allowed one only in scheme, port, a trailing dot, case
/// or a suffix, and the `null` origin.
const LOOK_ALIKES: [&str; 8] = [
    "http://auth.privy.io",
    "https://auth.privy.io:8443",
    "https://auth.privy.io:443",
    "https://auth.privy.io.",
    "https://Auth.Privy.io",
    "https://auth.privy.io.evil.test",
    "https://evil-auth.privy.io",
    "null",
];

async fn send(
    host: &TestHost,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap) {
    let mut request = host.http().request(method, host.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request sent");
    (response.status(), response.headers().clone())
}

async fn preflight(
    host: &TestHost,
    origin: &str,
    method: &str,
    headers: &str,
) -> (StatusCode, HeaderMap) {
    send(
        host,
        Method::OPTIONS,
        REGISTER,
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", headers),
        ],
    )
    .await
}

/// Returns the `Access-Control-*` response headers in `headers`.
fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

fn varies_on_origin(headers: &HeaderMap) -> bool {
    headers.get_all("vary").iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|text| text.to_ascii_lowercase().contains("origin"))
    })
}

#[tokio::test]
async fn look_alike_origins_get_no_grant() {
    let host = TestHost::start(&Backend::Memory).await;
    for origin in LOOK_ALIKES {
        let (status, headers) =
            send(&host, Method::GET, LOGIN_CHALLENGE, &[("origin", origin)]).await;
        assert_eq!(status, StatusCode::OK, "{origin}");
        assert_eq!(cors_headers(&headers), Vec::<String>::new(), "{origin}");
        assert!(varies_on_origin(&headers), "{origin}: {headers:?}");

        let (status, headers) = preflight(&host, origin, "POST", "content-type").await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{origin}");
        assert_eq!(cors_headers(&headers), Vec::<String>::new(), "{origin}");
        assert!(varies_on_origin(&headers), "{origin}: {headers:?}");
    }
    host.stop().await;
}

#[tokio::test]
async fn request_without_origin_gets_no_grant() {
    let host = TestHost::start(&Backend::Memory).await;
    let (status, headers) = send(&host, Method::GET, LOGIN_CHALLENGE, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cors_headers(&headers), Vec::<String>::new());
    assert!(varies_on_origin(&headers), "{headers:?}");
    host.stop().await;
}

#[tokio::test]
async fn default_list_grants_configured_origins() {
    let host = TestHost::start(&Backend::Memory).await;
    // The test host's public URL, Privy's two apps, and the development front end.
    for origin in [
        latchkey_tests::ORIGIN,
        PRIVY,
        "https://console.privy.io",
        "http://localhost:3000",
    ] {
        let (_, headers) = send(&host, Method::GET, LOGIN_CHALLENGE, &[("origin", origin)]).await;
        assert_eq!(headers["access-control-allow-origin"], origin);
        assert_eq!(headers["access-control-allow-credentials"], "true");
    }
    host.stop().await;
}

#[tokio::test]
async fn preflight_with_unlisted_method_refused() {
    let host = TestHost::start(&Backend::Memory).await;
    for method in ["PUT", "CONNECT", "post"] {
        let (status, headers) = preflight(&host, PRIVY, method, "content-type").await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{method}");
        assert_eq!(cors_headers(&headers), Vec::<String>::new(), "{method}");
    }
    host.stop().await;
}

#[tokio::test]
async fn preflight_for_passkey_rename_and_delete_granted() {
    let host = TestHost::start(&Backend::Memory).await;
    for method in ["PATCH", "DELETE"] {
        let (status, headers) = preflight(&host, PRIVY, method, "authorization").await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{method}");
        assert_eq!(headers["access-control-allow-origin"], PRIVY, "{method}");
        let allowed = headers["access-control-allow-methods"].to_str().unwrap();
        assert!(allowed.contains(method), "{method}: {allowed}");
    }
    host.stop().await;
}

#[tokio::test]
async fn preflight_with_unlisted_header_refused() {
    let host = TestHost::start(&Backend::Memory).await;
    for requested in ["x-evil", "content-type, x-evil", "x-privy-token,cookie"] {
        let (status, headers) = preflight(&host, PRIVY, "POST", requested).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{requested}");
        assert_eq!(cors_headers(&headers), Vec::<String>::new(), "{requested}");
    }
    host.stop().await;
}

#[tokio::test]
async fn preflight_with_privy_headers_granted() {
    let host = TestHost::start(&Backend::Memory).await;
    let (status, headers) =
        preflight(&host, PRIVY, "POST", "X-Privy-Token, X-Privy-Client-ID").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["access-control-allow-origin"], PRIVY);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .expect("ASCII")
        .to_ascii_lowercase();
    assert!(allowed.contains("x-privy-token"), "{allowed}");
    assert!(allowed.contains("x-privy-client-id"), "{allowed}");
    host.stop().await;
}

#[tokio::test]
async fn plain_options_not_taken_for_preflight() {
    // OPTIONS without Access-Control-Request-Method is an ordinary request, which the
    // router rejects, and an allowed origin still gets its grant on that response.
    let host = TestHost::start(&Backend::Memory).await;
    let (status, headers) = send(&host, Method::OPTIONS, REGISTER, &[("origin", PRIVY)]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["access-control-allow-origin"], PRIVY);
    host.stop().await;
}

#[tokio::test]
async fn subdomain_pattern_and_null_when_configured() {
    let config = "[plugins.cors]\nallowed_origins = [\"https://*.example.com\"]\n\
                  danger_allow_null_origin = true\n";
    let host = TestHost::start_with(&Backend::Memory, config).await;
    for (origin, granted) in [
        ("https://app.example.com", true),
        ("https://a.b.example.com", true),
        ("null", true),
        ("https://example.com", false),
        ("https://app.example.com.evil.test", false),
        ("http://app.example.com", false),
        (PRIVY, false),
    ] {
        let (_, headers) = send(&host, Method::GET, LOGIN_CHALLENGE, &[("origin", origin)]).await;
        let grant = headers
            .get("access-control-allow-origin")
            .and_then(|value| value.to_str().ok());
        assert_eq!(grant, granted.then_some(origin), "{origin}");
    }
    host.stop().await;
}

async fn startup_error(config: &str) -> String {
    let error = TestHost::try_start(&Backend::Memory, config)
        .await
        .expect_err("the host started with an invalid CORS config");
    format!("{error:#}")
}

#[tokio::test]
async fn wildcard_origin_stops_startup() {
    let message = startup_error("[plugins.cors]\nallowed_origins = [\"*\"]\n").await;
    assert!(
        message.contains("plugins.cors.allowed_origins[0]"),
        "{message}"
    );
    assert!(message.contains("credentials"), "{message}");
}

#[tokio::test]
async fn bad_origin_entries_stop_startup() {
    for entry in [
        "null",
        "https://*.com",
        "https://auth.privy.io/login",
        "https://Auth.privy.io",
        "auth.privy.io",
    ] {
        let config = format!("[plugins.cors]\nallowed_origins = [\"{entry}\"]\n");
        let message = startup_error(&config).await;
        assert!(
            message.contains("plugins.cors.allowed_origins[0]"),
            "{entry}: {message}"
        );
    }
}

#[tokio::test]
async fn wildcard_header_stops_startup() {
    let message = startup_error("[plugins.cors]\nallowed_headers = [\"*\"]\n").await;
    assert!(
        message.contains("plugins.cors.allowed_headers[0]"),
        "{message}"
    );
    let message = startup_error("[plugins.cors]\nallowed_methods = [\"*\"]\n").await;
    assert!(
        message.contains("plugins.cors.allowed_methods[0]"),
        "{message}"
    );
}
