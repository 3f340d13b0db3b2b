//! The rate-limit plugin over HTTP: exact counts across hosts sharing a Redis, windows,
//! headers, client addresses behind proxies, store outages and bad rules.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_tests::{Backend, RedisServer, TestHost};
use redis::AsyncCommands;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

const LOGIN_CHALLENGE: &str = "/api/auth/challenge/login";
const JWKS: &str = "/.well-known/jwks.json";

/// How long any burst of requests in these tests may take.
const BURST_TIMEOUT: Duration = Duration::from_secs(60);

/// Returns the TOML of one rule named `name` on `path_prefix`.
fn rule(name: &str, path_prefix: &str, limit: u32, window: u32, on_store_error: &str) -> String {
    format!(
        "[[plugins.rate_limit.rules]]\nname = \"{name}\"\npath_prefix = \"{path_prefix}\"\n\
         limit = {limit}\nwindow = {window}\non_store_error = \"{on_store_error}\"\n"
    )
}

const TRUSTED_LOOPBACK: &str = "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";

/// Sleeps until the current window of `window` seconds has at least `needed` left, so
/// that a test's requests do not straddle a window boundary.
async fn wait_for_window_start(window: u64, needed: Duration) {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    let window = Duration::from_secs(window);
    let into_window = Duration::from_nanos(
        u64::try_from(since_epoch.as_nanos() % window.as_nanos()).expect("window fits u64"),
    );
    if window - into_window < needed {
        tokio::time::sleep(window - into_window + Duration::from_millis(50)).await;
    }
}

/// Sends `GET path` with `headers` and returns the status, headers and JSON body.
async fn get_with(host: &TestHost, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = host.http().get(host.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("GET sent");
    Answer::read(response).await
}

/// Sends `GET path` from the client `forwarded_for`, as a proxy would name it.
async fn get_forwarded(host: &TestHost, path: &str, forwarded_for: &str) -> StatusCode {
    get_with(host, path, &[("x-forwarded-for", forwarded_for)])
        .await
        .status
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        Self {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// Returns header `name` as a number.
    fn number(&self, name: &str) -> u64 {
        let value = self.headers.get(name);
        let text = value.and_then(|value| value.to_str().ok());
        match text.and_then(|text| text.parse().ok()) {
            Some(number) => number,
            None => panic!("header {name} is {value:?}, not a number: {self:?}"),
        }
    }
}

/// Checks that `answer` is the 429 of a rule with `limit` and a window of `window` s.
fn assert_limited(answer: &Answer, limit: u64, window: u64) {
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
    let retry_after = answer.number("retry-after");
    assert!((1..=window).contains(&retry_after), "{answer:?}");
    assert_eq!(answer.number("x-ratelimit-limit"), limit, "{answer:?}");
    assert_eq!(answer.number("x-ratelimit-remaining"), 0, "{answer:?}");
    assert_eq!(
        answer.number("x-ratelimit-reset"),
        retry_after,
        "{answer:?}"
    );
    let body = &answer.body;
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["retryAfter"], retry_after, "{body}");
    assert_eq!(body["limit"], limit, "{body}");
    assert_eq!(body["remaining"], 0, "{body}");
    assert_eq!(body["reset"], retry_after, "{body}");
}

#[tokio::test]
async fn two_hosts_share_exact_limit() {
    let redis = RedisServer::start();
    let backend = Backend::Redis(redis.url());
    let config = rule("login", LOGIN_CHALLENGE, 100, 60, "deny");
    let first = TestHost::start_with(&backend, &config).await;
    let second = TestHost::start_with(&backend, &config).await;
    wait_for_window_start(60, Duration::from_secs(20)).await;

    let mut requests = Vec::new();
    for index in 0..300 {
        let host = if index % 2 == 0 { &first } else { &second };
        let request = host.http().get(host.url(LOGIN_CHALLENGE)).send();
        requests.push(async move { Answer::read(request.await.expect("GET sent")).await });
    }
    let answers = tokio::time::timeout(BURST_TIMEOUT, futures_join_all(requests))
        .await
        .expect("300 requests within 60 s");

    let admitted = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::OK)
        .count();
    let limited: Vec<&Answer> = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(admitted, 100);
    assert_eq!(limited.len(), 200);
    for answer in limited {
        assert_limited(answer, 100, 60);
    }
    first.stop().await;
    second.stop().await;
}

/// Awaits every future of `futures` concurrently and returns their outputs in order.
async fn futures_join_all<F: Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("request task finished"));
    }
    outputs
}

#[tokio::test]
async fn window_resets_after_retry_after() {
    let host = TestHost::start_with(&Backend::Memory, &rule("short", JWKS, 2, 2, "deny")).await;
    wait_for_window_start(2, Duration::from_millis(1500)).await;

    for _ in 0..2 {
        assert_eq!(get_with(&host, JWKS, &[]).await.status, StatusCode::OK);
    }
    let limited = get_with(&host, JWKS, &[]).await;
    assert_limited(&limited, 2, 2);

    let retry_after = limited.number("retry-after");
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    let fresh = get_with(&host, JWKS, &[]).await;
    assert_eq!(fresh.status, StatusCode::OK, "{fresh:?}");
    assert_eq!(fresh.number("x-ratelimit-remaining"), 1, "{fresh:?}");
    host.stop().await;
}

#[tokio::test]
async fn redis_counters_expire_within_window() {
    let redis = RedisServer::start();
    let config = format!(
        "{}{}",
        rule("minute", "/", 1000, 60, "deny"),
        rule("short", LOGIN_CHALLENGE, 1000, 2, "deny")
    );
    let host = TestHost::start_with(&Backend::Redis(redis.url()), &config).await;
    for _ in 0..5 {
        assert_eq!(host.get(LOGIN_CHALLENGE).await.0, StatusCode::OK);
        assert_eq!(host.get(JWKS).await.0, StatusCode::OK);
    }

    let mut connection = redis.connection().await;
    let keys: Vec<String> = connection
        .keys("latchkey:rate_limit:*")
        .await
        .expect("Redis KEYS succeeds");
    assert!(
        keys.iter()
            .any(|key| key.starts_with("latchkey:rate_limit:minute:127.0.0.1:")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|key| key.starts_with("latchkey:rate_limit:short:127.0.0.1:")),
        "{keys:?}"
    );
    for key in &keys {
        let ttl: i64 = connection.pttl(key).await.expect("Redis PTTL succeeds");
        let window_ms = if key.contains(":short:") {
            2000
        } else {
            60_000
        };
        assert!(ttl > 0, "{key} has PTTL {ttl}");
        assert!(ttl <= window_ms, "{key} has PTTL {ttl}, over the window");
    }
    host.stop().await;
}

#[tokio::test]
async fn limited_success_carries_headers() {
    let config = format!(
        "{}[plugins.rate_limit]\nietf_headers = true\n",
        rule("auth", "/api/auth", 5, 3600, "deny")
    );
    let host = TestHost::start_with(&Backend::Memory, &config).await;
    wait_for_window_start(3600, Duration::from_secs(30)).await;

    let answer = get_with(&host, LOGIN_CHALLENGE, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.number("x-ratelimit-limit"), 5);
    assert_eq!(answer.number("x-ratelimit-remaining"), 4);
    let reset = answer.number("x-ratelimit-reset");
    assert!((1..=3600).contains(&reset), "{answer:?}");
    let policy = answer
        .headers
        .get("ratelimit-policy")
        .expect("RateLimit-Policy");
    assert_eq!(policy, "\"auth\";q=5;w=3600");
    let state = answer.headers.get("ratelimit").expect("RateLimit");
    assert_eq!(state.to_str().unwrap(), format!("\"auth\";r=4;t={reset}"));

    let unmatched = get_with(&host, JWKS, &[]).await;
    assert_eq!(unmatched.status, StatusCode::OK);
    assert!(
        !unmatched.headers.contains_key("x-ratelimit-limit"),
        "{unmatched:?}"
    );
    host.stop().await;
}

#[tokio::test]
async fn default_rules_limit_auth_at_five() {
    let host = TestHost::start_with(
        &Backend::Memory,
        &format!(
            "{}{}",
            rule("global", "/", 100, 900, "allow"),
            rule("auth", "/api/auth", 5, 3600, "deny")
        ),
    )
    .await;
    wait_for_window_start(3600, Duration::from_secs(30)).await;
    for remaining in (0..5).rev() {
        let answer = get_with(&host, LOGIN_CHALLENGE, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.number("x-ratelimit-limit"), 5, "{answer:?}");
        assert_eq!(answer.number("x-ratelimit-remaining"), remaining);
    }
    assert_limited(&get_with(&host, LOGIN_CHALLENGE, &[]).await, 5, 3600);
    // The global rule still admits other routes.
    let jwks = get_with(&host, JWKS, &[]).await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert_eq!(jwks.number("x-ratelimit-limit"), 100);
    host.stop().await;
}

#[tokio::test]
async fn untrusted_forwarded_header_ignored() {
    let host = TestHost::start_with(&Backend::Memory, &rule("jwks", JWKS, 3, 3600, "deny")).await;
    wait_for_window_start(3600, Duration::from_secs(30)).await;
    for index in 0..3 {
        let client = format!("203.0.113.{index}");
        assert_eq!(get_forwarded(&host, JWKS, &client).await, StatusCode::OK);
    }
    assert_eq!(
        get_forwarded(&host, JWKS, "203.0.113.99").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let forwarded = get_with(&host, JWKS, &[("forwarded", "for=198.51.100.1")]).await;
    assert_eq!(forwarded.status, StatusCode::TOO_MANY_REQUESTS);
    host.stop().await;
}

#[tokio::test]
async fn trusted_proxy_selects_client() {
    let config = format!("{TRUSTED_LOOPBACK}{}", rule("jwks", JWKS, 3, 3600, "deny"));
    let host = TestHost::start_with(&Backend::Memory, &config).await;
    wait_for_window_start(3600, Duration::from_secs(30)).await;

    for _ in 0..3 {
        assert_eq!(
            get_forwarded(&host, JWKS, "203.0.113.1").await,
            StatusCode::OK
        );
    }
    assert_eq!(
        get_forwarded(&host, JWKS, "203.0.113.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A value the client wrote left of the proxy's entry does not change who it is.
    assert_eq!(
        get_forwarded(&host, JWKS, "198.51.100.9, 203.0.113.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        get_forwarded(&host, JWKS, "203.0.113.2").await,
        StatusCode::OK
    );
    // Without a header the client is the proxy itself, with its own counter.
    assert_eq!(get_with(&host, JWKS, &[]).await.status, StatusCode::OK);
    host.stop().await;
}

#[tokio::test]
async fn ipv6_clients_grouped_by_64() {
    let config = format!("{TRUSTED_LOOPBACK}{}", rule("jwks", JWKS, 2, 3600, "deny"));
    let host = TestHost::start_with(&Backend::Memory, &config).await;
    wait_for_window_start(3600, Duration::from_secs(30)).await;

    assert_eq!(
        get_forwarded(&host, JWKS, "2001:db8:1:2::1").await,
        StatusCode::OK
    );
    assert_eq!(
        get_forwarded(&host, JWKS, "[2001:db8:1:2:ffff::9]:4711").await,
        StatusCode::OK
    );
    assert_eq!(
        get_forwarded(&host, JWKS, "2001:db8:1:2::abcd").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        get_forwarded(&host, JWKS, "2001:db8:1:3::1").await,
        StatusCode::OK
    );
    let keys = host.store_keys().await;
    assert!(
        keys.iter().any(|key| key.contains(":2001:db8:1:2::/64:")),
        "{keys:?}"
    );
    host.stop().await;
}

#[tokio::test]
async fn store_outage_follows_on_store_error() {
    let mut redis = RedisServer::start();
    let config = format!(
        "{}{}",
        rule("closed", "/no-such-route", 1000, 3600, "deny"),
        rule("open", JWKS, 1000, 3600, "allow")
    );
    let host = TestHost::start_with(&Backend::Redis(redis.url()), &config).await;
    assert_eq!(host.get("/no-such-route").await.0, StatusCode::NOT_FOUND);
    assert_eq!(host.get(JWKS).await.0, StatusCode::OK);

    redis.stop();
    for _ in 0..3 {
        let (status, body) = host.get("/no-such-route").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "store_unavailable", "{body}");
        let open = get_with(&host, JWKS, &[]).await;
        assert_eq!(open.status, StatusCode::OK, "{open:?}");
        assert!(!open.headers.contains_key("x-ratelimit-limit"), "{open:?}");
    }

    redis.restart();
    let mut recovered = false;
    for _ in 0..50 {
        if host.get("/no-such-route").await.0 == StatusCode::NOT_FOUND {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the deny rule did not recover within 5 s of the restart"
    );
    let open = get_with(&host, JWKS, &[]).await;
    assert_eq!(open.status, StatusCode::OK);
    assert_eq!(open.number("x-ratelimit-limit"), 1000, "{open:?}");
    host.stop().await;
}

#[tokio::test]
async fn preflight_not_counted() {
    let host = TestHost::start_with(&Backend::Memory, &rule("jwks", JWKS, 2, 3600, "deny")).await;
    wait_for_window_start(3600, Duration::from_secs(30)).await;
    for _ in 0..5 {
        let response = host
            .http()
            .request(reqwest::Method::OPTIONS, host.url(JWKS))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .expect("OPTIONS sent");
        assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(!response.headers().contains_key("x-ratelimit-limit"));
    }
    for remaining in [1, 0] {
        let answer = get_with(&host, JWKS, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.number("x-ratelimit-remaining"), remaining);
    }
    host.stop().await;
}

#[tokio::test]
async fn zero_limit_stops_start() {
    let error = TestHost::try_start(&Backend::Memory, &rule("login", "/", 0, 60, "deny"))
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("plugins.rate_limit.rules[0].limit"),
        "{message}"
    );
    assert!(message.contains("rule \"login\""), "{message}");
}

#[tokio::test]
async fn duplicate_rule_name_stops_start() {
    let config = format!(
        "{}{}",
        rule("login", "/", 10, 60, "deny"),
        rule("login", "/api", 10, 60, "deny")
    );
    let error = TestHost::try_start(&Backend::Memory, &config)
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("plugins.rate_limit.rules[1].name"),
        "{message}"
    );
    assert!(message.contains("rule \"login\""), "{message}");
}
