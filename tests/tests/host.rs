//! Host behaviour over HTTP: the store going away and coming back, and the JSON errors
//! of the host's own hoops.

use latchkey_tests::{Backend, RedisServer, TestHost};
use reqwest::StatusCode;

#[tokio::test]
async fn store_outage_answers_503_then_recovers() {
    let mut redis = RedisServer::start();
    let host = TestHost::start(&Backend::Redis(redis.url())).await;
    let (status, _) = host.get("/api/auth/challenge/login").await;
    assert_eq!(status, StatusCode::OK);

    redis.stop();
    let (status, body) = host.get("/api/auth/challenge/login").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "store_unavailable");
    assert!(
        !body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("refused")
    );

    redis.restart();
    let mut recovered = false;
    for _ in 0..50 {
        let (status, _) = host.get("/api/auth/challenge/login").await;
        if status == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "the host did not reconnect to Redis within 5 s");
    host.stop().await;
}

#[tokio::test]
async fn unknown_route_is_json_404_with_request_id() {
    let host = TestHost::start(&Backend::Memory).await;
    let response = host
        .http()
        .get(host.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    host.stop().await;
}

#[tokio::test]
async fn wrong_method_is_json_error() {
    let host = TestHost::start(&Backend::Memory).await;
    let (status, body) = host
        .post("/api/auth/challenge/login", &serde_json::json!({}))
        .await;
    assert!(status.is_client_error(), "{status}");
    assert!(body["code"].is_string(), "{body}");
    host.stop().await;
}

#[tokio::test]
async fn disabled_jwt_stops_start_naming_it() {
    let error = TestHost::try_start(&Backend::Memory, "[plugins.jwt]\nenabled = false\n")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("enable plugin jwt"), "{error}");
}

#[tokio::test]
async fn unknown_plugin_section_stops_start() {
    let error = TestHost::try_start(&Backend::Memory, "[plugins.rate_limitt]\nenabled = true\n")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown plugin rate_limitt"), "{error}");
    assert!(error.contains("jwt, passkey"), "{error}");
}

#[tokio::test]
async fn unreachable_redis_stops_start() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let error = TestHost::try_start(&Backend::Redis(url), "")
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("store.redis_url"), "{message}");
}
