//! The revocation plugin over HTTP: logout, admin and RFC 7009 revocation, RFC 7662
//! introspection, refresh tokens, and the guard of protected routes, on two hosts sharing
//! a real `redis-server`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_tests::{Backend, Device, RedisServer, TestHost, verify_with_jwks};
use redis::AsyncCommands;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ME: &str = "/api/auth/me";
const LOGOUT: &str = "/api/auth/logout";
const REFRESH: &str = "/api/auth/refresh";
const REVOKE: &str = "/api/auth/revoke";
const INTROSPECT: &str = "/api/auth/introspect";
const ADMIN_REVOCATIONS: &str = "/api/admin/revocations";

/// The secret of the admin key with every scope.
const ADMIN_SECRET: &str = "admin-secret-for-tests-only";
/// The secret of the admin key limited to introspection.
const INTROSPECT_SECRET: &str = "introspect-secret-for-tests-only";

/// Redis keys of the revocation list, behind the default `latchkey:` prefix.
const REVOCATION_KEYS: &str = "latchkey:revocation:";

fn hex_sha256(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Config of the test hosts: two admin keys, and no rate limit, so that a stopped Redis
/// reaches the guard rather than the limiter.
fn config() -> String {
    format!(
        "[[admin.keys]]\nname = \"ops\"\nsha256 = \"{}\"\n\n\
         [[admin.keys]]\nname = \"resource-server\"\nsha256 = \"{}\"\nscopes = [\"introspect\"]\n\n\
         [plugins.rate_limit]\nenabled = false\n",
        hex_sha256(ADMIN_SECRET),
        hex_sha256(INTROSPECT_SECRET),
    )
}

async fn start_pair(redis: &RedisServer) -> (TestHost, TestHost) {
    let backend = Backend::Redis(redis.url());
    let config = config();
    let first = TestHost::start_with(&backend, &config).await;
    let second = TestHost::start_with(&backend, &config).await;
    (first, second)
}

fn token_of(answer: &Value) -> String {
    answer["token"]
        .as_str()
        .expect("answer has a token")
        .to_owned()
}

fn admin() -> String {
    format!("Bearer {ADMIN_SECRET}")
}

/// Returns the claims of `token` as the JWKS of `host` verifies them.
async fn claims(host: &TestHost, token: &str) -> Value {
    let verified = verify_with_jwks(&host.url("/.well-known/jwks.json"), token)
        .await
        .expect("token verifies against the JWKS");
    serde_json::to_value(verified.claims).expect("claims serialize")
}

async fn admin_revoke(host: &TestHost, body: &Value) -> (StatusCode, Value) {
    host.send_with_token(Method::POST, ADMIN_REVOCATIONS, ADMIN_SECRET, Some(body))
        .await
}

async fn me_status(host: &TestHost, token: &str) -> StatusCode {
    host.get_with_token(ME, token).await.0
}

async fn revocation_keys(redis: &RedisServer) -> Vec<String> {
    let mut connection = redis.connection().await;
    let mut keys: Vec<String> = connection
        .keys(format!("{REVOCATION_KEYS}*"))
        .await
        .expect("KEYS answered");
    keys.retain(|key| !key.starts_with("latchkey:revocation:refresh:"));
    keys.sort();
    keys
}

async fn ttl_seconds(redis: &RedisServer, key: &str) -> i64 {
    let mut connection = redis.connection().await;
    connection.ttl(key).await.expect("TTL answered")
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Waits until the Unix second changes, so that a token issued next has a later `iat`.
async fn next_second() {
    let start = now_seconds();
    while now_seconds() == start {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn logout_on_one_host_rejected_by_both() {
    let redis = RedisServer::start();
    let (first, second) = start_pair(&redis).await;
    let mut device = Device::new();
    let token = token_of(&first.register(&mut device, "Ada").await);
    assert_eq!(me_status(&first, &token).await, StatusCode::OK);
    assert_eq!(me_status(&second, &token).await, StatusCode::OK);

    let (status, body) = first
        .send_with_token(Method::POST, LOGOUT, &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sessionEnded"], true);

    for host in [&first, &second] {
        let (status, body) = host.get_with_token(ME, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], "token_revoked");
    }
    let (status, _) = second
        .send_with_token(Method::POST, LOGOUT, &token, None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token logs out once"
    );
}

#[tokio::test]
async fn revocation_entry_lives_until_the_token_expires() {
    let redis = RedisServer::start();
    let (host, _) = start_pair(&redis).await;
    let mut device = Device::new();
    let token = token_of(&host.register(&mut device, "Ada").await);
    let claims = claims(&host, &token).await;
    let jti = claims["jti"].as_str().unwrap();
    let exp = claims["exp"].as_u64().unwrap();

    host.send_with_token(Method::POST, LOGOUT, &token, None)
        .await;
    let key = format!("{REVOCATION_KEYS}token:{jti}");
    let ttl = ttl_seconds(&redis, &key).await;
    // The entry outlives the token's `exp` plus the default 60 s leeway, by at most a
    // second of rounding.
    let accepted_for = i64::try_from(exp - now_seconds()).unwrap() + 60;
    assert!(
        ttl > 0 && ttl <= accepted_for + 2 && ttl >= accepted_for - 5,
        "TTL {ttl} s, token accepted for {accepted_for} s"
    );
    let session = claims["sid"].as_str().expect("login started a session");
    let cutoff = format!("{REVOCATION_KEYS}cutoff:sid:{session}");
    assert!(
        ttl_seconds(&redis, &cutoff).await > 0,
        "session cut-off expires"
    );
}

#[tokio::test]
async fn admin_revocation_by_jti_through_the_other_host() {
    let redis = RedisServer::start();
    let (first, second) = start_pair(&redis).await;
    let mut device = Device::new();
    let token = token_of(&first.register(&mut device, "Ada").await);
    let jti = claims(&first, &token).await["jti"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = second
        .send_with_token(
            Method::POST,
            ADMIN_REVOCATIONS,
            ADMIN_SECRET,
            Some(&json!({"jti": jti})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"revoked": true, "kind": "jti"}));
    assert_eq!(me_status(&first, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&second, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn user_cutoff_revokes_earlier_tokens_only() {
    let redis = RedisServer::start();
    let (first, second) = start_pair(&redis).await;
    let mut device = Device::new();
    let registered = first.register(&mut device, "Ada").await;
    let earlier = token_of(&registered);
    let user_id = registered["userID"].as_str().unwrap();
    let earlier_login = token_of(&second.login(&mut device).await);

    let (status, body) = first
        .send_with_token(
            Method::POST,
            ADMIN_REVOCATIONS,
            ADMIN_SECRET,
            Some(&json!({"sub": user_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "sub");
    next_second().await;
    let later = token_of(&second.login(&mut device).await);

    for host in [&first, &second] {
        assert_eq!(me_status(host, &earlier).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            me_status(host, &earlier_login).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(me_status(host, &later).await, StatusCode::OK);
    }
    let cutoff = format!("{REVOCATION_KEYS}cutoff:sub:{user_id}");
    assert!(
        ttl_seconds(&redis, &cutoff).await > 0,
        "user cut-off expires"
    );
}

#[tokio::test]
async fn introspection_reports_live_revoked_and_malformed_tokens() {
    let redis = RedisServer::start();
    let (first, second) = start_pair(&redis).await;
    let mut device = Device::new();
    let answer = first.register(&mut device, "Ada").await;
    let token = token_of(&answer);
    let resource_server = format!("Bearer {INTROSPECT_SECRET}");

    let (status, live) = second
        .post_form(INTROSPECT, &[("token", &token)], Some(&resource_server))
        .await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert_eq!(live["active"], true);
    assert_eq!(live["sub"], answer["userID"]);
    assert_eq!(live["token_type"], "Bearer");
    assert!(live["exp"].is_u64(), "{live}");
    assert!(live["jti"].is_string(), "{live}");
    assert!(live["credentialID"].is_string(), "{live}");

    let refresh = answer["refreshToken"].as_str().unwrap();
    let (_, refresh_view) = second
        .post_form(INTROSPECT, &[("token", refresh)], Some(&resource_server))
        .await;
    assert_eq!(refresh_view["active"], true);
    assert_eq!(refresh_view["token_type"], "refresh_token");

    first
        .send_with_token(Method::POST, LOGOUT, &token, None)
        .await;
    let mut tampered = token.clone();
    tampered.pop();
    for candidate in [
        token.as_str(),
        refresh,
        tampered.as_str(),
        "not-a-token",
        "a.b.c",
    ] {
        let (status, body) = second
            .post_form(INTROSPECT, &[("token", candidate)], Some(&resource_server))
            .await;
        assert_eq!(status, StatusCode::OK, "{candidate}: {body}");
        assert_eq!(body, json!({"active": false}), "{candidate}");
    }
}

#[tokio::test]
async fn expired_token_inactive_rejected_and_never_written() {
    let redis = RedisServer::start();
    let extra = format!("{}\n[plugins.jwt]\ntoken_ttl = 60\nleeway = 0\n", config());
    let host = TestHost::start_with(&Backend::Redis(redis.url()), &extra).await;
    let mut device = Device::new();
    let token = token_of(&host.register(&mut device, "Ada").await);
    let before = revocation_keys(&redis).await;

    tokio::time::sleep(Duration::from_secs(61)).await;
    let (status, body) = host.get_with_token(ME, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "invalid_token");
    let (_, body) = host
        .post_form(INTROSPECT, &[("token", &token)], Some(&admin()))
        .await;
    assert_eq!(body, json!({"active": false}));
    let (status, _) = host.post_form(REVOKE, &[("token", &token)], None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "RFC 7009: an expired token is no error"
    );
    assert_eq!(revocation_keys(&redis).await, before, "nothing written");
}

#[tokio::test]
async fn rfc7009_revocation_of_access_and_refresh_tokens() {
    let redis = RedisServer::start();
    let (first, second) = start_pair(&redis).await;
    let mut device = Device::new();
    let answer = first.register(&mut device, "Ada").await;
    let token = token_of(&answer);

    let (status, body) = second.post_form(REVOKE, &[("token", &token)], None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_eq!(me_status(&first, &token).await, StatusCode::UNAUTHORIZED);
    let refresh = answer["refreshToken"].as_str().unwrap();
    let (status, _) = first.post(REFRESH, &json!({"refreshToken": refresh})).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "revoking the access token ended its session"
    );

    let login = first.login(&mut device).await;
    let refresh = login["refreshToken"].as_str().unwrap();
    let (status, _) = second
        .post_form(
            REVOKE,
            &[("token", refresh), ("token_type_hint", "refresh_token")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = first.post(REFRESH, &json!({"refreshToken": refresh})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "session_revoked");
    assert_eq!(
        me_status(&first, &token_of(&login)).await,
        StatusCode::UNAUTHORIZED,
        "the access token of a revoked session is revoked too"
    );
}

#[tokio::test]
async fn rfc7009_invalid_tokens_answered_200_and_never_written() {
    let redis = RedisServer::start();
    let (host, _) = start_pair(&redis).await;
    let before = revocation_keys(&redis).await;
    for token in ["garbage", "a.b.c", "lkrt_unknown", &"x".repeat(5000)] {
        let (status, body) = host.post_form(REVOKE, &[("token", token)], None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for fields in [
        &[][..],
        &[("token", "")][..],
        &[("token", "a"), ("token", "b")][..],
    ] {
        let (status, body) = host.post_form(REVOKE, fields, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fields:?}: {body}");
        assert_eq!(body["error"], "invalid_request");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("token")
        );
    }
    assert_eq!(revocation_keys(&redis).await, before);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_ends_the_session() {
    let redis = RedisServer::start();
    let (first, second) = start_pair(&redis).await;
    let mut device = Device::new();
    let answer = first.register(&mut device, "Ada").await;
    let user_id = answer["userID"].clone();
    let first_refresh = answer["refreshToken"].as_str().unwrap().to_owned();
    assert!(answer["refreshTokenExpiresAt"].as_u64().unwrap() > now_seconds());

    let (status, refreshed) = second
        .post(REFRESH, &json!({"refreshToken": first_refresh}))
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["userID"], user_id);
    let new_token = token_of(&refreshed);
    let new_refresh = refreshed["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, first_refresh);
    let new_claims = claims(&first, &new_token).await;
    let old_claims = claims(&first, &token_of(&answer)).await;
    assert_eq!(new_claims["sid"], old_claims["sid"], "same session");
    assert_eq!(new_claims["credentialID"], old_claims["credentialID"]);
    assert_eq!(me_status(&first, &new_token).await, StatusCode::OK);

    // The first refresh token again: a leaked copy. The whole session ends.
    let (status, body) = first
        .post(REFRESH, &json!({"refreshToken": first_refresh}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "refresh_token_reused");
    assert_eq!(
        me_status(&second, &new_token).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = second
        .post(REFRESH, &json!({"refreshToken": new_refresh}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Another login starts a session of its own.
    let fresh = second.login(&mut device).await;
    assert_eq!(me_status(&first, &token_of(&fresh)).await, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_refreshes_admit_one_and_end_the_session() {
    let redis = RedisServer::start();
    let (first, second) = start_pair(&redis).await;
    let mut device = Device::new();
    let answer = first.register(&mut device, "Ada").await;
    let refresh = answer["refreshToken"].as_str().unwrap().to_owned();

    let attempts = (0..10).map(|attempt| {
        let host = if attempt % 2 == 0 { &first } else { &second };
        let body = json!({"refreshToken": refresh});
        async move { host.post(REFRESH, &body).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert!(winners.len() <= 1, "{answers:?}");
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::OK || body["code"] == "refresh_token_reused",
            "{status}: {body}"
        );
    }
    // Reuse was seen, so nothing of the session works any more, the winner's tokens too.
    for winner in winners {
        assert_eq!(
            me_status(&first, &token_of(winner)).await,
            StatusCode::UNAUTHORIZED
        );
        let next = winner["refreshToken"].as_str().unwrap();
        let (status, _) = second.post(REFRESH, &json!({"refreshToken": next})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        me_status(&second, &token_of(&answer)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_input_checked() {
    let redis = RedisServer::start();
    let (host, _) = start_pair(&redis).await;
    for body in [
        json!({}),
        json!({"refreshToken": 5}),
        json!({"refresh": "x"}),
    ] {
        let (status, answer) = host.post(REFRESH, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["code"], "invalid_body");
    }
    for token in ["", "lkrt_", "lkrt_nope", &"lkrt_x".repeat(1000)] {
        let (status, answer) = host.post(REFRESH, &json!({"refreshToken": token})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["code"], "invalid_refresh_token");
    }
    assert!(revocation_keys(&redis).await.is_empty());
}

#[tokio::test]
async fn admin_keys_checked_and_nothing_revoked_without_one() {
    let redis = RedisServer::start();
    let (host, _) = start_pair(&redis).await;
    let mut device = Device::new();
    let answer = host.register(&mut device, "Ada").await;
    let token = token_of(&answer);
    let body = json!({"sub": answer["userID"]});

    let refusals = [
        (None, StatusCode::UNAUTHORIZED, "admin_key_required"),
        (
            Some("Bearer wrong-secret"),
            StatusCode::UNAUTHORIZED,
            "invalid_admin_key",
        ),
        (
            Some("Bearer"),
            StatusCode::UNAUTHORIZED,
            "invalid_admin_key",
        ),
        (
            Some("Basic YWRtaW46YWRtaW4="),
            StatusCode::UNAUTHORIZED,
            "invalid_admin_key",
        ),
        (
            Some("Bearer admin-secret-for-tests-only extra"),
            StatusCode::UNAUTHORIZED,
            "invalid_admin_key",
        ),
        (
            Some("Bearer introspect-secret-for-tests-only"),
            StatusCode::FORBIDDEN,
            "admin_scope_missing",
        ),
    ];
    for (authorization, expected, code) in refusals {
        let mut request = host.http().post(host.url(ADMIN_REVOCATIONS)).json(&body);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "{authorization:?}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], code, "{authorization:?}");
    }
    let (status, _) = host
        .post_form(
            INTROSPECT,
            &[("token", &token)],
            Some("Bearer wrong-secret"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert!(revocation_keys(&redis).await.is_empty(), "nothing revoked");
    assert_eq!(me_status(&host, &token).await, StatusCode::OK);
}

#[tokio::test]
async fn admin_revocation_bodies_checked() {
    let redis = RedisServer::start();
    let (host, _) = start_pair(&redis).await;
    for body in [
        json!({}),
        json!({"jti": "a", "sub": "b"}),
        json!({"user": "a"}),
        json!({"sub": "not base64url!"}),
        json!({"sub": ""}),
    ] {
        let (status, answer) = admin_revoke(&host, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    // RFC 7009: a jti no token can carry, or a token that is not valid, is no error, and
    // nothing is written for it.
    for body in [
        json!({"jti": ""}),
        json!({"jti": "x".repeat(129)}),
        json!({"jti": "bad jti"}),
        json!({"token": "garbage"}),
    ] {
        let (status, answer) = admin_revoke(&host, &body).await;
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
        assert_eq!(answer["revoked"], false, "{body}");
    }
    assert!(revocation_keys(&redis).await.is_empty());

    // A well-formed jti that no token carries is kept only as long as a token can live.
    let (status, _) = admin_revoke(&host, &json!({"jti": "unknown-jti"})).await;
    assert_eq!(status, StatusCode::OK);
    let key = format!("{REVOCATION_KEYS}token:unknown-jti");
    let ttl = ttl_seconds(&redis, &key).await;
    assert!(ttl > 0, "TTL {ttl}");
    assert!(ttl <= 86_400 + 60 + 1, "TTL {ttl}");
}

#[tokio::test]
async fn malformed_bearer_headers_get_a_clear_401() {
    let host = TestHost::start_with(&Backend::Memory, &config()).await;
    let mut device = Device::new();
    let token = token_of(&host.register(&mut device, "Ada").await);
    let keys_before = host.store_keys().await;

    let long = "a".repeat(100 * 1024);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "missing_token"),
        (vec![format!("Bearer  {token}  x")], "invalid_request"),
        (vec![format!("Bearer {token} {token}")], "invalid_request"),
        (
            vec![format!("Bearer {token}"), format!("Bearer {token}")],
            "invalid_request",
        ),
        (vec![format!("Token {token}")], "invalid_request"),
        (vec!["Bearer".to_owned()], "invalid_request"),
        (
            vec![format!("Bearer {}", &token[..token.len() - 3])],
            "invalid_token",
        ),
        (vec![format!("Bearer {long}")], "invalid_request"),
    ];
    for (headers, code) in cases {
        let mut request = host.http().get(host.url(ME));
        for header in &headers {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|value| value.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let label = headers
            .iter()
            .map(|h| &h[..h.len().min(40)])
            .collect::<Vec<_>>();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{label:?}: {body}");
        assert_eq!(body["code"], code, "{label:?}");
        let challenge = challenge.expect("WWW-Authenticate on every 401");
        assert!(
            challenge.starts_with("Bearer realm=\"latchkey\""),
            "{challenge}"
        );
    }
    // Extra spaces and a lower-case scheme are allowed by RFC 9110.
    for header in [format!("bearer {token}"), format!("Bearer    {token}")] {
        let (status, _) = {
            let response = host
                .http()
                .get(host.url(ME))
                .header("authorization", &header)
                .send()
                .await
                .unwrap();
            (response.status(), ())
        };
        assert_eq!(status, StatusCode::OK, "{}", &header[..10]);
    }
    assert_eq!(host.store_keys().await, keys_before, "nothing written");
}

#[tokio::test]
async fn guarded_routes_answer_503_without_redis_and_recover() {
    let mut redis = RedisServer::start();
    let host = TestHost::start_with(&Backend::Redis(redis.url()), &config()).await;
    let mut device = Device::new();
    let token = token_of(&host.register(&mut device, "Ada").await);
    assert_eq!(me_status(&host, &token).await, StatusCode::OK);

    redis.stop();
    let (status, body) = host.get_with_token(ME, &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "store_unavailable");
    let (status, _) = host
        .send_with_token(Method::POST, LOGOUT, &token, None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // The restarted Redis kept nothing, so the account is gone, but the revocation list
    // responds again: logout, a guarded route that needs only the list, succeeds.
    redis.restart();
    let mut recovered = None;
    for _ in 0..50 {
        let (status, body) = host
            .send_with_token(Method::POST, LOGOUT, &token, None)
            .await;
        if status != StatusCode::SERVICE_UNAVAILABLE {
            recovered = Some((status, body));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = recovered.expect("guarded route recovered once Redis returned");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(me_status(&host, &token).await, StatusCode::UNAUTHORIZED);
}
