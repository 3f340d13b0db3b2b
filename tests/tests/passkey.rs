//! The passkey plugin over HTTP: registration and usernameless login with a software
//! authenticator, on the memory store and on a real `redis-server`, and the responses it
//! rejects.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use latchkey_tests::{Backend, Device, ORIGIN, RP_ID, RedisServer, TestHost, verify_with_jwks};
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const REGISTER_CHALLENGE: &str = "/api/auth/challenge/register";
const REGISTER: &str = "/api/auth/register-passkey";
const LOGIN_CHALLENGE: &str = "/api/auth/challenge/login";
const LOGIN: &str = "/api/auth/login-passkey";
const JWKS: &str = "/.well-known/jwks.json";

/// Prefix of the store keys of ceremonies between their challenge and their response.
const CHALLENGE_KEYS: &str = "passkey:challenge:";

/// The host's default `server.body_limit`, in bytes.
const BODY_LIMIT: usize = 64 * 1024;

/// The default `plugins.passkey.challenge_ttl`, in seconds.
const CHALLENGE_TTL_SECONDS: i64 = 150;

// Helpers

/// Returns `text` percent-encoded for a query string.
fn query_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Fetches creation options for a new user called `display_name`.
async fn registration_options_for(host: &TestHost, display_name: &str) -> Value {
    let path = format!(
        "{REGISTER_CHALLENGE}?displayName={}",
        query_escape(display_name)
    );
    let (status, options) = host.get(&path).await;
    assert_eq!(status, StatusCode::OK, "registration challenge: {options}");
    options
}

async fn registration_options(host: &TestHost) -> Value {
    registration_options_for(host, "Ada Lovelace").await
}

async fn login_options(host: &TestHost) -> Value {
    let (status, options) = host.get(LOGIN_CHALLENGE).await;
    assert_eq!(status, StatusCode::OK, "login challenge: {options}");
    options
}

/// Fetches creation options, lets `device` create a passkey for them, and returns its
/// response without posting it.
async fn registration_response(host: &TestHost, device: &mut Device) -> Value {
    let options = registration_options(host).await;
    device.register(&options).await.expect("device registers")
}

/// Fetches request options, lets `device` sign them, and returns the assertion without
/// posting it.
async fn login_response(host: &TestHost, device: &mut Device) -> Value {
    let options = login_options(host).await;
    device.login(&options).await.expect("device signs")
}

async fn post_registration(host: &TestHost, response: &Value) -> (StatusCode, Value) {
    host.post(REGISTER, &json!({ "attestationResponse": response }))
        .await
}

async fn post_login(host: &TestHost, response: &Value) -> (StatusCode, Value) {
    host.post(LOGIN, &json!({ "authenticationResponse": response }))
        .await
}

/// Registers a new user with `device` and returns the response body.
async fn register(host: &TestHost, device: &mut Device) -> Value {
    let response = registration_response(host, device).await;
    let (status, body) = post_registration(host, &response).await;
    assert_eq!(status, StatusCode::OK, "registration: {body}");
    body
}

/// Logs in with `device` and returns the response body.
async fn login(host: &TestHost, device: &mut Device) -> Value {
    let response = login_response(host, device).await;
    let (status, body) = post_login(host, &response).await;
    assert_eq!(status, StatusCode::OK, "login: {body}");
    body
}

/// Returns the canonical base64url credential ID of the passkey `device` holds.
fn credential_id(device: &Device) -> String {
    let passkey = device.passkey().expect("device holds a passkey");
    URL_SAFE_NO_PAD.encode(passkey.credential_id.as_slice())
}

fn string_field<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {body}"))
}

/// Checks a successful ceremony body and its token, and returns the token's `jti`.
async fn assert_token_response(
    host: &TestHost,
    body: &Value,
    user_id: &str,
    credential_id: &str,
) -> String {
    assert_eq!(body["success"], json!(true), "{body}");
    assert_eq!(string_field(body, "userID"), user_id);
    let token = string_field(body, "token");

    let verified = verify_with_jwks(&host.url(JWKS), token)
        .await
        .unwrap_or_else(|error| panic!("token does not verify from the JWKS: {error:#}"));
    let claims = &verified.claims;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let exp = claims["exp"].as_u64().expect("exp is a number");
    assert!(exp > now, "exp {exp} is not after now {now}");
    assert_eq!(claims["sub"], json!(user_id));
    assert_eq!(claims["credentialID"], json!(credential_id));

    let (status, jwks) = host.get(JWKS).await;
    assert_eq!(status, StatusCode::OK);
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("JWKS has keys")
        .iter()
        .filter_map(|key| key["kid"].as_str())
        .collect();
    assert!(
        kids.contains(&verified.kid.as_str()),
        "kid {} not in {kids:?}",
        verified.kid
    );

    claims["jti"].as_str().expect("jti is a string").to_owned()
}

/// Checks that a request failed with `status` and `code`, a sentence, and no token.
fn assert_rejected(actual: (StatusCode, Value), status: StatusCode, code: &str) {
    let (actual_status, body) = actual;
    assert_eq!(actual_status, status, "{body}");
    assert_eq!(body["code"], json!(code), "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "no error sentence in {body}");
    assert!(
        body.get("token").is_none(),
        "token returned with an error: {body}"
    );
}

/// Prefix of the rate limiter's counters, which every request adds to by design.
const RATE_LIMIT_KEYS: &str = "rate_limit:";

/// Returns the store keys, leaving out the rate limiter's counters, so that a test can
/// assert that a rejected request wrote no state of its own.
async fn state_keys(host: &TestHost) -> Vec<String> {
    host.store_keys()
        .await
        .into_iter()
        .filter(|key| !key.starts_with(RATE_LIMIT_KEYS))
        .collect()
}

/// Returns the store keys that outlive a ceremony: users, credentials, signing keys.
async fn lasting_keys(host: &TestHost) -> Vec<String> {
    state_keys(host)
        .await
        .into_iter()
        .filter(|key| !key.starts_with(CHALLENGE_KEYS))
        .collect()
}

async fn keys_under(host: &TestHost, prefix: &str) -> Vec<String> {
    host.store_keys()
        .await
        .into_iter()
        .filter(|key| key.starts_with(prefix))
        .collect()
}

async fn stored_value(host: &TestHost, key: &str) -> Option<Vec<u8>> {
    host.server()
        .store()
        .get(key)
        .await
        .expect("store readable")
}

/// Returns `response` with its `response.clientDataJSON` replaced by `client_data`.
fn with_client_data(response: &Value, client_data: &Value) -> Value {
    let bytes = serde_json::to_vec(client_data).expect("client data serializes");
    let mut changed = response.clone();
    changed["response"]["clientDataJSON"] = json!(URL_SAFE_NO_PAD.encode(bytes));
    changed
}

/// Decodes the `clientDataJSON` of `response`.
fn client_data_of(response: &Value) -> Value {
    let encoded = string_field(&response["response"], "clientDataJSON");
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .expect("clientDataJSON is base64url");
    serde_json::from_slice(&bytes).expect("clientDataJSON is JSON")
}

/// Sends `POST path` with `body` in chunked transfer encoding over a raw socket, so the
/// request has no Content-Length, and returns the status and JSON body.
async fn post_chunked(host: &TestHost, path: &str, body: &[u8]) -> (StatusCode, Value) {
    let address = host.server().local_addr();
    let exchange = async {
        let mut socket = tokio::net::TcpStream::connect(address)
            .await
            .expect("connected");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let mut request = head.into_bytes();
        for chunk in body.chunks(8 * 1024) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        // The server may send its response and close before reading the whole body, so a
        // failed write still leaves a response to read.
        let _ = socket.write_all(&request).await;
        let mut raw = Vec::new();
        let _ = socket.read_to_end(&mut raw).await;
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("response to the chunked request within 10 s");
    parse_http_response(&raw)
}

/// Parses an HTTP/1.1 response into its status and JSON body (`Null` if not JSON).
fn parse_http_response(raw: &[u8]) -> (StatusCode, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response head in {text:?}"));
    let code: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let status = StatusCode::from_u16(code).expect("valid status code");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Joins the chunks of a chunked body. Stops at the last chunk or at malformed input.
fn dechunk(mut body: &str) -> String {
    let mut joined = String::new();
    for _ in 0..1024 {
        let Some((size, rest)) = body.split_once("\r\n") else {
            break;
        };
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        joined.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    joined
}

// Happy paths, on both backends

/// The user and credential a ceremony flow created.
struct FlowOutcome {
    user_id: String,
    credential_id: String,
}

/// Registers a device, logs in with it twice, and checks every token.
async fn register_then_login_twice(host: &TestHost) -> FlowOutcome {
    let mut device = Device::new();
    let registered = register(host, &mut device).await;
    let user_id = string_field(&registered, "userID").to_owned();
    let user_handle = URL_SAFE_NO_PAD
        .decode(&user_id)
        .expect("userID is unpadded base64url");
    assert_eq!(user_handle.len(), 32);
    let credential_id = credential_id(&device);

    let first_login = login(host, &mut device).await;
    let second_login = login(host, &mut device).await;

    let mut jtis = HashSet::new();
    for body in [&registered, &first_login, &second_login] {
        let jti = assert_token_response(host, body, &user_id, &credential_id).await;
        jtis.insert(jti);
    }
    assert_eq!(jtis.len(), 3, "jti repeated across tokens: {jtis:?}");
    FlowOutcome {
        user_id,
        credential_id,
    }
}

async fn ceremony_flow(backend: &Backend) {
    let host = TestHost::start(backend).await;
    register_then_login_twice(&host).await;
    host.stop().await;
}

#[tokio::test]
async fn memory_register_then_login() {
    ceremony_flow(&Backend::Memory).await;
}

#[tokio::test]
async fn redis_register_then_login() {
    let redis = RedisServer::start();
    ceremony_flow(&Backend::Redis(redis.url())).await;
}

async fn two_devices_flow(backend: &Backend) {
    let host = TestHost::start(backend).await;
    let mut first = Device::new();
    let mut second = Device::new();
    let first_user = string_field(&register(&host, &mut first).await, "userID").to_owned();
    let second_user = string_field(&register(&host, &mut second).await, "userID").to_owned();
    assert_ne!(first_user, second_user);

    let first_login = login(&host, &mut first).await;
    let second_login = login(&host, &mut second).await;
    assert_token_response(&host, &first_login, &first_user, &credential_id(&first)).await;
    assert_token_response(&host, &second_login, &second_user, &credential_id(&second)).await;
    host.stop().await;
}

#[tokio::test]
async fn memory_two_devices_two_users() {
    two_devices_flow(&Backend::Memory).await;
}

#[tokio::test]
async fn redis_two_devices_two_users() {
    let redis = RedisServer::start();
    two_devices_flow(&Backend::Redis(redis.url())).await;
}

async fn options_shape_flow(backend: &Backend) {
    let host = TestHost::start(backend).await;

    let options = registration_options_for(&host, "Ada Lovelace").await;
    assert!(
        options.get("publicKey").is_none(),
        "options are wrapped: {options}"
    );
    assert!(options["challenge"].is_string(), "{options}");
    assert_eq!(options["rp"]["id"], json!(RP_ID));
    assert_eq!(options["rp"]["name"], json!("Latchkey"));
    let user_id = URL_SAFE_NO_PAD
        .decode(string_field(&options["user"], "id"))
        .expect("user.id is unpadded base64url");
    assert_eq!(user_id.len(), 32);
    assert_eq!(options["user"]["displayName"], json!("Ada Lovelace"));
    let params = options["pubKeyCredParams"]
        .as_array()
        .expect("pubKeyCredParams is an array");
    assert!(!params.is_empty());
    assert!(
        params
            .iter()
            .all(|param| param["type"] == json!("public-key")),
        "{params:?}"
    );
    assert!(
        params.iter().any(|param| param["alg"] == json!(-7)),
        "no ES256 in {params:?}"
    );
    assert_eq!(options["timeout"], json!(150_000));
    assert_eq!(options["attestation"], json!("none"));
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        json!("required")
    );

    let options = login_options(&host).await;
    assert!(
        options.get("publicKey").is_none(),
        "options are wrapped: {options}"
    );
    assert_eq!(options["rpId"], json!(RP_ID));
    assert_eq!(options["allowCredentials"], json!([]));
    assert_eq!(options["userVerification"], json!("preferred"));
    let challenge = URL_SAFE_NO_PAD
        .decode(string_field(&options, "challenge"))
        .expect("challenge is unpadded base64url");
    assert!(
        challenge.len() >= 16,
        "challenge of {} bytes",
        challenge.len()
    );
    assert_eq!(options["timeout"], json!(150_000));
    host.stop().await;
}

#[tokio::test]
async fn memory_options_shape() {
    options_shape_flow(&Backend::Memory).await;
}

#[tokio::test]
async fn redis_options_shape() {
    let redis = RedisServer::start();
    options_shape_flow(&Backend::Redis(redis.url())).await;
}

async fn concurrent_finish_flow(backend: &Backend) {
    let host = TestHost::start(backend).await;
    let mut device = Device::new();
    let response = registration_response(&host, &mut device).await;

    let (first, second) = tokio::join!(
        post_registration(&host, &response),
        post_registration(&host, &response)
    );
    let statuses = [first.0, second.0];
    let successes = statuses
        .iter()
        .filter(|status| **status == StatusCode::OK)
        .count();
    assert_eq!(successes, 1, "statuses {statuses:?}");
    let loser = if first.0 == StatusCode::OK {
        second
    } else {
        first
    };
    assert_rejected(loser, StatusCode::BAD_REQUEST, "unknown_challenge");
    assert_eq!(keys_under(&host, "passkey:user:").await.len(), 1);
    assert_eq!(keys_under(&host, "passkey:credential:").await.len(), 1);
    host.stop().await;
}

#[tokio::test]
async fn memory_concurrent_finish_one_wins() {
    concurrent_finish_flow(&Backend::Memory).await;
}

#[tokio::test]
async fn redis_concurrent_finish_one_wins() {
    let redis = RedisServer::start();
    concurrent_finish_flow(&Backend::Redis(redis.url())).await;
}

#[tokio::test]
async fn redis_keys_after_ceremonies() {
    let redis = RedisServer::start();
    let host = TestHost::start(&Backend::Redis(redis.url())).await;
    let outcome = register_then_login_twice(&host).await;

    let mut connection = redis.connection().await;
    let mut keys: Vec<String> = connection.keys("*").await.expect("Redis KEYS succeeds");
    keys.sort();
    assert!(
        keys.iter().all(|key| key.starts_with("latchkey:")),
        "{keys:?}"
    );
    let challenges: Vec<&String> = keys
        .iter()
        .filter(|key| key.starts_with("latchkey:passkey:challenge:"))
        .collect();
    assert!(challenges.is_empty(), "ceremony keys left: {challenges:?}");

    let user_key = format!("latchkey:passkey:user:{}", outcome.user_id);
    let credential_key = format!("latchkey:passkey:credential:{}", outcome.credential_id);
    assert!(keys.contains(&user_key), "{user_key} not in {keys:?}");
    assert!(
        keys.contains(&credential_key),
        "{credential_key} not in {keys:?}"
    );
    let user_ttl: i64 = connection.ttl(&user_key).await.expect("Redis TTL succeeds");
    assert_eq!(user_ttl, -1, "user record expires");
    let credential_ttl: i64 = connection
        .ttl(&credential_key)
        .await
        .expect("Redis TTL succeeds");
    assert_eq!(credential_ttl, -1, "credential record expires");
    host.stop().await;
}

#[tokio::test]
async fn redis_challenge_keys_expire() {
    let redis = RedisServer::start();
    let host = TestHost::start(&Backend::Redis(redis.url())).await;
    let mut connection = redis.connection().await;

    let options = registration_options(&host).await;
    let key = format!(
        "latchkey:passkey:challenge:register:{}",
        string_field(&options, "challenge")
    );
    let ttl: i64 = connection.ttl(&key).await.expect("Redis TTL succeeds");
    assert!(ttl > 0, "{key} has TTL {ttl}");
    assert!(ttl <= CHALLENGE_TTL_SECONDS, "{key} has TTL {ttl}");

    let options = login_options(&host).await;
    let key = format!(
        "latchkey:passkey:challenge:login:{}",
        string_field(&options, "challenge")
    );
    let ttl: i64 = connection.ttl(&key).await.expect("Redis TTL succeeds");
    assert!(ttl > 0, "{key} has TTL {ttl}");
    assert!(ttl <= CHALLENGE_TTL_SECONDS, "{key} has TTL {ttl}");
    host.stop().await;
}

// Display names

/// Requests creation options with the raw query `query` and checks the 400 and that the
/// store did not change.
async fn assert_display_name_rejected(query: &str) {
    let host = TestHost::start(&Backend::Memory).await;
    let before = state_keys(&host).await;
    let answer = host.get(&format!("{REGISTER_CHALLENGE}{query}")).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "invalid_display_name");
    assert_eq!(state_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn missing_display_name_rejected() {
    assert_display_name_rejected("").await;
}

#[tokio::test]
async fn empty_display_name_rejected() {
    assert_display_name_rejected("?displayName=").await;
}

#[tokio::test]
async fn whitespace_display_name_rejected() {
    assert_display_name_rejected(&format!("?displayName={}", query_escape(" \t "))).await;
}

#[tokio::test]
async fn long_display_name_rejected() {
    let name = "a".repeat(65);
    assert_display_name_rejected(&format!("?displayName={name}")).await;
}

#[tokio::test]
async fn control_character_display_name_rejected() {
    assert_display_name_rejected(&format!("?displayName={}", query_escape("Ada\u{7}"))).await;
}

#[tokio::test]
async fn invisible_display_name_rejected() {
    assert_display_name_rejected(&format!(
        "?displayName={}",
        query_escape("Ada\u{202E}nimda")
    ))
    .await;
}

#[tokio::test]
async fn non_utf8_display_name_rejected() {
    assert_display_name_rejected("?displayName=Ada%ED%A0%80").await;
}

#[tokio::test]
async fn display_name_of_64_accepted() {
    let host = TestHost::start(&Backend::Memory).await;
    let name = "é".repeat(64);
    let options = registration_options_for(&host, &name).await;
    assert_eq!(options["user"]["displayName"], json!(name));
    host.stop().await;
}

// Bodies

async fn assert_body_rejected(
    path: &str,
    body: &'static str,
    status: StatusCode,
    code: &str,
    names: &str,
) {
    let host = TestHost::start(&Backend::Memory).await;
    let before = state_keys(&host).await;
    let answer = host.post_raw(path, body).await;
    let error = answer.1["error"].as_str().unwrap_or_default().to_owned();
    assert_rejected(answer, status, code);
    assert!(
        error.contains(names),
        "error {error:?} does not name {names:?}"
    );
    assert_eq!(state_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn registration_body_not_json_rejected() {
    assert_body_rejected(
        REGISTER,
        "{not json",
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "not valid JSON",
    )
    .await;
}

#[tokio::test]
async fn login_body_not_json_rejected() {
    assert_body_rejected(
        LOGIN,
        "{not json",
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "not valid JSON",
    )
    .await;
}

#[tokio::test]
async fn registration_body_without_response_rejected() {
    assert_body_rejected(
        REGISTER,
        r#"{"authenticationResponse": {}}"#,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "attestationResponse",
    )
    .await;
}

#[tokio::test]
async fn login_body_without_response_rejected() {
    assert_body_rejected(
        LOGIN,
        r#"{"attestationResponse": {}}"#,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "authenticationResponse",
    )
    .await;
}

/// Returns a JSON body of `length` bytes whose `attestationResponse` is a string.
fn body_of_length(length: usize) -> Vec<u8> {
    let prefix = br#"{"attestationResponse": ""#;
    let suffix = br#""}"#;
    let mut body = prefix.to_vec();
    body.resize(length - suffix.len(), b'a');
    body.extend_from_slice(suffix);
    body
}

fn oversized_body() -> Vec<u8> {
    body_of_length(BODY_LIMIT + 1)
}

#[tokio::test]
async fn oversized_body_with_length_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let before = state_keys(&host).await;
    for path in [REGISTER, LOGIN] {
        let answer = host.post_raw(path, oversized_body()).await;
        assert_rejected(answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    }
    assert_eq!(state_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn oversized_chunked_body_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let before = state_keys(&host).await;
    for path in [REGISTER, LOGIN] {
        let answer = post_chunked(&host, path, &oversized_body()).await;
        assert_rejected(answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    }
    assert_eq!(state_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn body_at_limit_read() {
    // A body of exactly the limit reaches the handler, which rejects it for its content
    // (a string where an object belongs) rather than its size.
    let host = TestHost::start(&Backend::Memory).await;
    let body = body_of_length(BODY_LIMIT);
    let answer = host.post_raw(REGISTER, body.clone()).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "invalid_body");
    let answer = post_chunked(&host, REGISTER, &body).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "invalid_body");
    host.stop().await;
}

// Challenges

#[tokio::test]
async fn replayed_registration_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    let response = registration_response(&host, &mut device).await;
    let (status, body) = post_registration(&host, &response).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let before = lasting_keys(&host).await;
    let answer = post_registration(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "unknown_challenge");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn unissued_challenge_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut options = registration_options(&host).await;
    options["challenge"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let response = Device::new()
        .register(&options)
        .await
        .expect("device registers");

    let before = state_keys(&host).await;
    let answer = post_registration(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "unknown_challenge");
    assert_eq!(
        state_keys(&host).await,
        before,
        "the issued challenge was consumed"
    );
    host.stop().await;
}

#[tokio::test]
async fn replayed_login_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    register(&host, &mut device).await;
    let response = login_response(&host, &mut device).await;

    let (status, body) = post_login(&host, &response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = lasting_keys(&host).await;
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "unknown_challenge");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

/// Starts a host whose challenges live one second.
async fn short_challenge_host() -> TestHost {
    TestHost::start_with(&Backend::Memory, "[plugins.passkey]\nchallenge_ttl = 1\n").await
}

#[tokio::test]
async fn expired_registration_challenge_rejected() {
    let host = short_challenge_host().await;
    let mut device = Device::new();
    let response = registration_response(&host, &mut device).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let before = lasting_keys(&host).await;
    let answer = post_registration(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "unknown_challenge");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn expired_login_challenge_rejected() {
    let host = short_challenge_host().await;
    let mut device = Device::new();
    register(&host, &mut device).await;
    let response = login_response(&host, &mut device).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let before = lasting_keys(&host).await;
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "unknown_challenge");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

// Origins and relying party IDs

/// A subdomain of the RP ID that the client accepts but the default origin list omits.
const OTHER_ORIGIN: &str = "https://other.latchkey.test";

#[tokio::test]
async fn registration_origin_mismatch_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::with_origin(OTHER_ORIGIN);
    let response = registration_response(&host, &mut device).await;

    let before = lasting_keys(&host).await;
    let answer = post_registration(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "origin_mismatch");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn login_origin_mismatch_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    register(&host, &mut device).await;
    let mut elsewhere = Device::with_origin(OTHER_ORIGIN);
    elsewhere.set_passkey(device.passkey().expect("passkey").clone());
    let response = login_response(&host, &mut elsewhere).await;

    let before = lasting_keys(&host).await;
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "origin_mismatch");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

/// An origin that [`two_origin_host`] allows, on a subdomain that a client may claim as
/// its own RP ID.
const LOGIN_ORIGIN: &str = "https://login.latchkey.test";

/// Starts a host on RP ID `latchkey.test` that also allows [`LOGIN_ORIGIN`], so that a ceremony
/// there passes the origin check and reaches the RP ID hash check.
async fn two_origin_host() -> TestHost {
    let extra = format!("[plugins.passkey]\norigins = [\"{ORIGIN}\", \"{LOGIN_ORIGIN}\"]\n");
    TestHost::start_with(&Backend::Memory, &extra).await
}

#[tokio::test]
async fn registration_rp_id_mismatch_rejected() {
    let host = two_origin_host().await;
    let mut options = registration_options(&host).await;
    options["rp"]["id"] = json!("login.latchkey.test");
    let response = Device::with_origin(LOGIN_ORIGIN)
        .register(&options)
        .await
        .expect("device registers");

    let before = lasting_keys(&host).await;
    let answer = post_registration(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "rp_id_mismatch");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn login_rp_id_mismatch_rejected() {
    let host = two_origin_host().await;
    let mut device = Device::new();
    register(&host, &mut device).await;
    let mut passkey = device.passkey().expect("passkey").clone();
    passkey.rp_id = "login.latchkey.test".to_owned();
    let mut elsewhere = Device::with_origin(LOGIN_ORIGIN);
    elsewhere.set_passkey(passkey);
    let mut options = login_options(&host).await;
    options["rpId"] = json!("login.latchkey.test");
    let response = elsewhere.login(&options).await.expect("device signs");

    let before = lasting_keys(&host).await;
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "rp_id_mismatch");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

// Credentials

#[tokio::test]
async fn unregistered_credential_login_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let elsewhere = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    register(&elsewhere, &mut device).await;
    let response = login_response(&host, &mut device).await;

    let before = lasting_keys(&host).await;
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::UNAUTHORIZED, "unknown_credential");
    assert_eq!(lasting_keys(&host).await, before);
    elsewhere.stop().await;
    host.stop().await;
}

#[tokio::test]
async fn signature_by_other_key_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut owner = Device::new();
    let mut other = Device::new();
    register(&host, &mut owner).await;
    register(&host, &mut other).await;
    let mut forged = owner.passkey().expect("passkey").clone();
    forged.key = other.passkey().expect("passkey").key.clone();
    let mut forger = Device::new();
    forger.set_passkey(forged);
    let response = login_response(&host, &mut forger).await;

    let credential_key = format!("passkey:credential:{}", credential_id(&owner));
    let stored_before = stored_value(&host, &credential_key).await;
    let before = lasting_keys(&host).await;
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::UNAUTHORIZED, "invalid_signature");
    assert_eq!(lasting_keys(&host).await, before);
    assert_eq!(stored_value(&host, &credential_key).await, stored_before);
    host.stop().await;
}

#[tokio::test]
async fn user_handle_of_other_user_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut owner = Device::new();
    let mut other = Device::new();
    register(&host, &mut owner).await;
    register(&host, &mut other).await;
    let mut forged = owner.passkey().expect("passkey").clone();
    forged.user_handle = other.passkey().expect("passkey").user_handle.clone();
    let mut forger = Device::new();
    forger.set_passkey(forged);
    let response = login_response(&host, &mut forger).await;

    let before = lasting_keys(&host).await;
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::UNAUTHORIZED, "user_handle_mismatch");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn registration_id_not_raw_id_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    let mut response = registration_response(&host, &mut device).await;
    response["id"] = json!(URL_SAFE_NO_PAD.encode([9u8; 16]));

    let before = lasting_keys(&host).await;
    let answer = post_registration(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "credential_id_mismatch");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn login_id_not_raw_id_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    register(&host, &mut device).await;
    let mut response = login_response(&host, &mut device).await;
    response["id"] = json!(URL_SAFE_NO_PAD.encode([9u8; 16]));

    let before = lasting_keys(&host).await;
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "credential_id_mismatch");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

/// Returns other spellings of the credential ID `id` (unpadded base64url) as `(id, rawId)`
/// pairs: padded base64url in both, then standard base64 with and without padding in `id`.
/// `rawId` stays base64url because webauthn-rs-proto 0.6.2 does not decode the standard
/// alphabet there, so the host rejects it with 400 `invalid_body`.
fn other_spellings(id: &str) -> Vec<(String, String)> {
    let bytes = URL_SAFE_NO_PAD
        .decode(id)
        .expect("id is unpadded base64url");
    let padded = URL_SAFE.encode(&bytes);
    let standard = STANDARD.encode(&bytes);
    vec![
        (padded.clone(), padded),
        (standard.trim_end_matches('=').to_owned(), id.to_owned()),
        (standard, id.to_owned()),
    ]
}

#[tokio::test]
async fn credential_respelled_not_registered_twice() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    let original = registration_response(&host, &mut device).await;
    let (status, body) = post_registration(&host, &original).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = string_field(&original, "id").to_owned();

    for (spelled_id, spelled_raw_id) in other_spellings(&id) {
        // With attestation "none" nothing signs clientDataJSON at registration, so the
        // attestation object can be replayed with client data for a fresh challenge.
        let options = registration_options(&host).await;
        let mut client_data = client_data_of(&original);
        client_data["challenge"] = options["challenge"].clone();
        let mut replay = with_client_data(&original, &client_data);
        replay["id"] = json!(spelled_id);
        replay["rawId"] = json!(spelled_raw_id);

        let before = lasting_keys(&host).await;
        let answer = post_registration(&host, &replay).await;
        assert_rejected(answer, StatusCode::BAD_REQUEST, "credential_exists");
        assert_eq!(lasting_keys(&host).await, before, "id spelled {spelled_id}");
    }
    assert_eq!(keys_under(&host, "passkey:credential:").await.len(), 1);
    assert_eq!(keys_under(&host, "passkey:user:").await.len(), 1);
    host.stop().await;
}

#[tokio::test]
async fn counter_regression_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    device.count_signatures();
    register(&host, &mut device).await;
    login(&host, &mut device).await;
    login(&host, &mut device).await;
    let mut cloned = device.passkey().expect("passkey").clone();
    assert_eq!(cloned.counter, Some(2));
    cloned.counter = Some(0);
    device.set_passkey(cloned);
    let response = login_response(&host, &mut device).await;

    let credential_key = format!("passkey:credential:{}", credential_id(&device));
    let stored_before = stored_value(&host, &credential_key).await;
    let mut expected_keys = lasting_keys(&host).await;
    expected_keys.push("passkey:quirk:counter_regression".to_owned());
    expected_keys.sort();
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::UNAUTHORIZED, "counter_regression");
    assert_eq!(lasting_keys(&host).await, expected_keys);
    assert_eq!(stored_value(&host, &credential_key).await, stored_before);
    host.stop().await;
}

#[tokio::test]
async fn missing_user_handle_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    register(&host, &mut device).await;
    let mut passkey = device.passkey().expect("passkey").clone();
    passkey.user_handle = None;
    device.set_passkey(passkey);
    let response = login_response(&host, &mut device).await;
    assert!(response["response"]["userHandle"].is_null(), "{response}");

    let before = lasting_keys(&host).await;
    let answer = post_login(&host, &response).await;
    assert_rejected(answer, StatusCode::UNAUTHORIZED, "missing_user_handle");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn credential_type_not_public_key_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    let mut response = registration_response(&host, &mut device).await;
    response["type"] = json!("password");

    let before = lasting_keys(&host).await;
    let answer = post_registration(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "invalid_response");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn client_data_without_challenge_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    let response = registration_response(&host, &mut device).await;
    let mut client_data = client_data_of(&response);
    client_data
        .as_object_mut()
        .expect("client data is an object")
        .remove("challenge");
    let response = with_client_data(&response, &client_data);

    let before = lasting_keys(&host).await;
    let answer = post_registration(&host, &response).await;
    assert_rejected(answer, StatusCode::BAD_REQUEST, "invalid_response");
    assert_eq!(lasting_keys(&host).await, before);
    host.stop().await;
}

#[tokio::test]
async fn display_name_trimmed_in_options() {
    let host = TestHost::start(&Backend::Memory).await;
    let options = registration_options_for(&host, "  Ada Lovelace \t").await;
    assert_eq!(options["user"]["displayName"], json!("Ada Lovelace"));
    host.stop().await;
}

#[tokio::test]
async fn warned_counter_regression_keeps_counter() {
    let extra = "[plugins.passkey.quirks]\ncounter_regression = \"warn\"\n";
    let host = TestHost::start_with(&Backend::Memory, extra).await;
    let mut device = Device::new();
    device.count_signatures();
    register(&host, &mut device).await;
    login(&host, &mut device).await;
    login(&host, &mut device).await;
    let mut cloned = device.passkey().expect("passkey").clone();
    cloned.counter = Some(0);
    device.set_passkey(cloned);

    let body = login(&host, &mut device).await;
    assert_eq!(body["success"], json!(true));
    let key = format!("passkey:credential:{}", credential_id(&device));
    let stored = stored_value(&host, &key).await.expect("credential stored");
    let record: Value = serde_json::from_slice(&stored).expect("record is JSON");
    assert_eq!(record["credential"]["counter"], json!(2), "{record}");
    let quirks = keys_under(&host, "passkey:quirk:").await;
    assert_eq!(quirks, ["passkey:quirk:counter_regression"]);
    host.stop().await;
}

#[tokio::test]
async fn cross_origin_login_rejected() {
    let host = TestHost::start(&Backend::Memory).await;
    let mut device = Device::new();
    register(&host, &mut device).await;
    let response = login_response(&host, &mut device).await;
    let mut client_data = client_data_of(&response);
    client_data["crossOrigin"] = json!(true);
    let before = state_keys(&host).await;

    let outcome = post_login(&host, &with_client_data(&response, &client_data)).await;
    assert_rejected(outcome, StatusCode::BAD_REQUEST, "origin_mismatch");
    assert_eq!(state_keys(&host).await, before);
}

#[tokio::test]
async fn stalled_body_times_out() {
    let host = TestHost::start(&Backend::Memory).await;
    let address = host.server().local_addr();
    let exchange = async {
        let mut socket = tokio::net::TcpStream::connect(address)
            .await
            .expect("connected");
        let head = format!(
            "POST {LOGIN} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\nConnection: close\r\n\r\n{{"
        );
        socket.write_all(head.as_bytes()).await.expect("head sent");
        let mut raw = Vec::new();
        let _ = socket.read_to_end(&mut raw).await;
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("the server answers a stalled body within 30 s");
    let outcome = parse_http_response(&raw);
    assert_rejected(outcome, StatusCode::REQUEST_TIMEOUT, "request_timeout");
}
