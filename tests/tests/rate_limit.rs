//! The rate-limit plugin over HTTP: exact counts across hosts sharing a Redis, windows,
//! headers, client addresses behind proxies, store outages and bad rules.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use latchkey_tests::{Backend, RedisServer, TestHost, latchkey_binary};
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

/// Window of every rule in `keys_expire_after_sigkill_mid_burst`, in seconds.
const SIGKILL_WINDOW: u32 = 60;

/// Requests in the burst that the host is killed during.
const SIGKILL_BURST: usize = 200;

/// Responses to wait for before the kill, so that counters exist in Redis.
const RESPONSES_BEFORE_KILL: usize = 20;

/// A `latchkey serve` child process, killed when dropped so a failed test leaves none.
struct ServeProcess {
    child: Child,
    url: String,
}

impl ServeProcess {
    /// Spawns the built `latchkey` binary with a clean environment plus `env` and
    /// `--config config`, and waits for the `url=` of its listening line on stdout.
    fn spawn(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(latchkey_binary())
            .args(["--config", config.to_str().expect("UTF-8 path"), "serve"])
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("latchkey starts");
        let lines = drain_lines(child.stdout.take().expect("stdout piped"));
        let mut process = Self {
            child,
            url: String::new(),
        };
        process.url = wait_for_url(&lines, Duration::from_secs(30));
        process
    }

    /// Sends SIGKILL to the process by its PID and reaps it.
    ///
    /// `Child::kill` sends the signal itself, as `kill -KILL <pid>` would. Spawning
    /// `kill` instead was slow enough that the host sometimes responded to the whole
    /// burst first.
    fn kill_hard(&mut self) {
        let pid = self.child.id();
        self.child
            .kill()
            .unwrap_or_else(|error| panic!("SIGKILL to latchkey PID {pid} failed: {error}"));
        let exit = self.child.wait().expect("latchkey reaped");
        assert!(!exit.success(), "latchkey exited with {exit} after SIGKILL");
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `stdout` line by line on a thread until it closes, so the child never blocks
/// on a full pipe, and sends each line to the returned channel.
fn drain_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Returns the `url=` field of the `latchkey listening` line.
///
/// # Panics
///
/// When no such line arrives within `timeout`, with the lines that did.
fn wait_for_url(lines: &mpsc::Receiver<String>, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = lines.recv_timeout(left) else {
            break;
        };
        if line.contains("latchkey listening") {
            let url = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("url="));
            if let Some(url) = url {
                return url.to_owned();
            }
        }
        seen.push(line);
    }
    panic!(
        "no `latchkey listening` line with url= within {timeout:?}, after stdout lines {seen:?}"
    );
}

#[tokio::test]
async fn keys_expire_after_sigkill_mid_burst() {
    let redis = RedisServer::start();
    let dir = std::env::temp_dir().join(format!("latchkey-sigkill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir created");
    let config = dir.join("rate_limit.toml");
    let rules = format!(
        "{}{}",
        rule("global", "/", 1000, SIGKILL_WINDOW, "allow"),
        rule("auth", "/api/auth", 5, SIGKILL_WINDOW, "deny")
    );
    std::fs::write(&config, rules).expect("config written");

    let redis_url = redis.url();
    let mut process = ServeProcess::spawn(
        &config,
        &[
            ("PORT", "0"),
            ("RUST_LOG", "info"),
            ("LATCHKEY_STORE__KIND", "redis"),
            ("LATCHKEY_STORE__REDIS_URL", &redis_url),
        ],
    );
    assert!(
        process.url.starts_with("http://127.0.0.1:"),
        "{}",
        process.url
    );

    let responded = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let mut requests = Vec::with_capacity(SIGKILL_BURST);
    for index in 0..SIGKILL_BURST {
        let path = if index % 2 == 0 {
            LOGIN_CHALLENGE
        } else {
            JWKS
        };
        let request = http.get(format!("{}{path}", process.url)).send();
        let responded = Arc::clone(&responded);
        requests.push(async move {
            let sent = request.await;
            if sent.is_ok() {
                responded.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let burst = tokio::spawn(futures_join_all(requests));

    let wait_deadline = Instant::now() + BURST_TIMEOUT;
    while responded.load(Ordering::SeqCst) < RESPONSES_BEFORE_KILL {
        assert!(
            Instant::now() < wait_deadline,
            "fewer than {RESPONSES_BEFORE_KILL} responses arrived within {BURST_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    process.kill_hard();
    tokio::time::timeout(BURST_TIMEOUT, burst)
        .await
        .expect("the burst ends within 60 s of the kill")
        .expect("burst task finished");
    // The kill races the host. If a faster host responds to the whole burst before the
    // kill lands, this fails, and SIGKILL_BURST needs to grow.
    let total_responses = responded.load(Ordering::SeqCst);
    assert!(
        total_responses < SIGKILL_BURST,
        "all {SIGKILL_BURST} requests got a response, so the kill came after the burst"
    );

    let mut connection = redis.connection().await;
    let keys: Vec<String> = connection
        .keys("latchkey:rate_limit:*")
        .await
        .expect("Redis KEYS succeeds");
    assert!(
        !keys.is_empty(),
        "no rate-limit key in Redis after the burst"
    );
    let window_ms = i64::from(SIGKILL_WINDOW) * 1000;
    for key in &keys {
        let ttl: i64 = connection.pttl(key).await.expect("Redis PTTL succeeds");
        assert!(ttl > 0, "{key} has PTTL {ttl}, so it never expires");
        assert!(
            ttl <= window_ms,
            "{key} has PTTL {ttl}, over {window_ms} ms"
        );
    }
    std::fs::remove_dir_all(&dir).expect("temp dir removed");
}

#[tokio::test]
async fn subject_rule_counts_each_user_on_one_address() {
    let window = 3600;
    let config = format!(
        "{}key = \"subject\"\n",
        rule("per_user", "/api/auth/me", 3, window, "deny")
    );
    let host = TestHost::start_with(&Backend::Memory, &config).await;
    wait_for_window_start(u64::from(window), Duration::from_secs(30)).await;
    let ada = host
        .register(&mut latchkey_tests::Device::new(), "Ada")
        .await;
    let grace = host
        .register(&mut latchkey_tests::Device::new(), "Grace")
        .await;
    let ada = ada["token"].as_str().unwrap();
    let grace = grace["token"].as_str().unwrap();

    // Both users share 127.0.0.1, yet each has a bucket of their own.
    for _ in 0..3 {
        assert_eq!(
            host.get_with_token("/api/auth/me", ada).await.0,
            StatusCode::OK
        );
    }
    let (status, body) = host.get_with_token("/api/auth/me", ada).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    for _ in 0..3 {
        assert_eq!(
            host.get_with_token("/api/auth/me", grace).await.0,
            StatusCode::OK
        );
    }

    // Without a valid token, the request is counted by address, and the guard rejects it.
    for _ in 0..3 {
        let (status, _) = host.get("/api/auth/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = host.get_with_token("/api/auth/me", "a.b.c").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let mut keys = host.store_keys().await;
    keys.retain(|key| key.starts_with("rate_limit:per_user:"));
    assert_eq!(
        keys.len(),
        3,
        "one counter per user and one for the address: {keys:?}"
    );
}

#[tokio::test]
async fn path_spellings_share_one_counter() {
    let per_path = "[[plugins.rate_limit.rules]]\nname = \"per_path\"\n\
                    path_prefix = \"/.well-known\"\nkey = \"ip_path\"\nlimit = 10\nwindow = 3600\n";
    let host = TestHost::start_with(
        &Backend::Memory,
        &format!(
            "{}{}{per_path}",
            rule("global", "/", 100, 900, "allow"),
            rule("auth", "/api/auth", 3, 3600, "deny")
        ),
    )
    .await;
    wait_for_window_start(3600, Duration::from_secs(30)).await;

    // Each spelling reaches the login challenge route, and each counts against the auth
    // rule, so the fourth request is over its limit of three.
    let spellings = [
        "//api/auth/challenge/login",
        "/%61pi/auth/challenge/login",
        "/api//auth/challenge/login",
        "/api/%61uth/challenge/login",
    ];
    for (index, path) in spellings.iter().enumerate() {
        let answer = get_with(&host, path, &[]).await;
        if index < 3 {
            assert_eq!(answer.status, StatusCode::OK, "{path}: {answer:?}");
            assert_eq!(answer.number("x-ratelimit-limit"), 3, "{path}");
        } else {
            assert_limited(&answer, 3, 3600);
        }
    }

    // A per-path rule keeps one counter for every spelling of the JWKS path.
    for path in [
        "/.well-known/jwks.json",
        "/.well-known//jwks.json",
        "/.well-known/%6Awks.json",
        "/.well-known/jwks.json/",
    ] {
        let answer = get_with(&host, path, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {answer:?}");
    }
    let per_path_counters: Vec<String> = host
        .store_keys()
        .await
        .into_iter()
        .filter(|key| key.starts_with("rate_limit:per_path:"))
        .collect();
    assert_eq!(per_path_counters.len(), 1, "{per_path_counters:?}");
    host.stop().await;
}
