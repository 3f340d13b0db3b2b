//! Signing key rotation over HTTP and a real `redis-server`: two hosts sharing keys
//! across forced rotations, a relying party's caching verifier (jose) that must never
//! fail, restarts, retirement, the stored key set's encryption, and the JWKS `ETag`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use latchkey_sdk::capability::{TokenRequest, VerifyError};
use latchkey_tests::{Backend, RedisServer, TestHost, latchkey_binary, verify_with_jwks};
use redis::AsyncCommands;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const JWKS: &str = "/.well-known/jwks.json";
const KEYS: &str = "/api/admin/keys";
const ROTATE: &str = "/api/admin/keys/rotate";
const ADMIN_SECRET: &str = "rotation-admin-secret";
const ENCRYPTION_SECRET: &str = "rotation test encryption secret";

/// `jwks_max_age` of the fast schedule, in seconds.
const MAX_AGE: u64 = 2;
/// `publish_ahead` of the fast schedule, in seconds.
const PUBLISH_AHEAD: u64 = 6;
/// `retain` of the fast schedule: the least `token_ttl + leeway + jwks_max_age +
/// refresh_every` allows.
const RETAIN: u64 = 63;

/// Returns the config of a schedule that rotates only when forced, publishes a key 6 s before it signs, and
/// keeps it 63 s after its last signature, with 60-second tokens and no leeway.
fn config() -> String {
    let digest: String = Sha256::digest(ADMIN_SECRET.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(
        "[[admin.keys]]\nname = \"ops\"\nsha256 = \"{digest}\"\n\n\
         [plugins.rate_limit]\nenabled = false\n\n\
         [plugins.jwt]\nkey_encryption_secret = \"{ENCRYPTION_SECRET}\"\ntoken_ttl = 60\n\
         leeway = 0\njwks_max_age = {MAX_AGE}\nrefresh_every = 1\n\
         publish_ahead = {PUBLISH_AHEAD}\nrotate_every = 3600\nretain = {RETAIN}\n"
    )
}

async fn start(redis: &RedisServer) -> TestHost {
    TestHost::start_with(&Backend::Redis(redis.url()), &config()).await
}

async fn issue(host: &TestHost) -> String {
    host.issuer()
        .issue(TokenRequest::new("user-1"))
        .await
        .expect("token issued")
        .token
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("token header decodes")
        .kid
        .expect("token names its key")
}

async fn jwks_kids(host: &TestHost) -> Vec<String> {
    let (status, jwks) = host.get(JWKS).await;
    assert_eq!(status, StatusCode::OK, "{jwks}");
    jwks["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect()
}

async fn rotate(host: &TestHost) -> Value {
    let (status, body) = host
        .send_with_token(Method::POST, ROTATE, ADMIN_SECRET, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Sleeps until `at` (Unix seconds) plus `margin`.
async fn sleep_until(at: u64, margin: Duration) {
    let target = UNIX_EPOCH + Duration::from_secs(at) + margin;
    if let Ok(left) = target.duration_since(SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
}

/// Sleeps until a rotation's key signs on every instance: its activation, plus one
/// `refresh_every` and a little.
async fn until_active(rotation: &Value) {
    let activates_at = rotation["activatesAt"].as_u64().expect("activation time");
    sleep_until(activates_at, Duration::from_millis(2500)).await;
}

#[tokio::test]
async fn hosts_verify_each_other_across_forced_rotations() {
    let redis = RedisServer::start();
    let first = start(&redis).await;
    let second = start(&redis).await;
    let before = [issue(&first).await, issue(&second).await];
    let original = kid_of(&before[0]);
    assert_eq!(kid_of(&before[1]), original, "both hosts sign with one key");

    let rotation = rotate(&first).await;
    assert_eq!(rotation["rotated"], true, "{rotation}");
    let next = rotation["kid"].as_str().unwrap().to_owned();
    let again = rotate(&second).await;
    assert_eq!(again["rotated"], false, "a key is already waiting: {again}");
    assert_eq!(again["kid"], next.as_str());

    // Published at once on the rotating host and within refresh_every on the other, and
    // not signing yet.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for host in [&first, &second] {
        assert_eq!(jwks_kids(host).await, [original.clone(), next.clone()]);
        assert_eq!(kid_of(&issue(host).await), original, "the next key waits");
    }

    until_active(&rotation).await;
    let after = [issue(&first).await, issue(&second).await];
    for token in &after {
        assert_eq!(kid_of(token), next, "the next key signs once active");
    }
    for token in before.iter().chain(&after) {
        for host in [&first, &second] {
            let verified = verify_with_jwks(&host.url(JWKS), token).await;
            assert!(verified.is_ok(), "{verified:?}");
        }
    }
}

#[tokio::test]
async fn concurrent_forced_rotations_add_one_key() {
    let redis = RedisServer::start();
    let first = start(&redis).await;
    let second = start(&redis).await;
    let (one, two) = tokio::join!(rotate(&first), rotate(&second));
    let rotated = [&one, &two]
        .iter()
        .filter(|answer| answer["rotated"] == true)
        .count();
    assert_eq!(rotated, 1, "{one} {two}");
    // The listing shows the host's own snapshot, which the other host's rotation reaches
    // within refresh_every.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, listing) = first
        .send_with_token(Method::GET, KEYS, ADMIN_SECRET, None)
        .await;
    let states: Vec<&str> = listing["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["signing", "next"], "{listing}");
}

/// A jose verifier in a Node process, caching the JWKS of one URL.
struct CachingVerifier {
    child: tokio::process::Child,
    input: tokio::process::ChildStdin,
    output: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl CachingVerifier {
    fn start(jwks_url: &str) -> Self {
        ensure_node_tools();
        let mut child = tokio::process::Command::new("node")
            .arg(node_dir().join("jwks-verifier.mjs"))
            .arg(jwks_url)
            .arg(MAX_AGE.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let input = child.stdin.take().expect("stdin piped");
        let output = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
        Self {
            child,
            input,
            output,
        }
    }

    async fn verify(&mut self, token: &str) -> Value {
        self.input
            .write_all(format!("{token}\n").as_bytes())
            .await
            .expect("token written");
        let line = tokio::time::timeout(Duration::from_secs(10), self.output.next_line())
            .await
            .expect("verifier answers within 10 s")
            .expect("verifier output readable")
            .expect("verifier still running");
        serde_json::from_str(&line).expect("verifier writes JSON")
    }
}

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Installs the npm packages when they are missing.
fn ensure_node_tools() {
    if node_dir().join("node_modules/jose").exists() {
        return;
    }
    let status = std::process::Command::new("bash")
        .arg(node_dir().join("setup.sh"))
        .status()
        .expect("tests/browser/setup.sh runs");
    assert!(status.success(), "tests/browser/setup.sh failed: {status}");
}

#[tokio::test]
async fn caching_verifier_survives_rotations_and_restart() {
    let redis = RedisServer::start();
    let first = start(&redis).await;
    let mut second = start(&redis).await;
    let mut verifier = CachingVerifier::start(&first.url(JWKS));

    let mut results = Vec::new();
    let mut kids = Vec::new();
    for round in 0..3 {
        let rotation = rotate(if round % 2 == 0 { &first } else { &second }).await;
        assert_eq!(rotation["rotated"], true, "{rotation}");
        // Issue from both hosts every 250 ms until the new key has signed for a while.
        let until = rotation["activatesAt"].as_u64().unwrap() + 3;
        while now_seconds() < until {
            for host in [&first, &second] {
                let token = issue(host).await;
                kids.push(kid_of(&token));
                results.push(verifier.verify(&token).await);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if round == 1 {
            second.stop().await;
            second = start(&redis).await;
        }
    }
    let failures: Vec<&Value> = results
        .iter()
        .filter(|result| result["ok"] != true)
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} failed: {failures:?}",
        failures.len(),
        results.len()
    );
    kids.dedup();
    assert!(kids.len() >= 4, "every rotation's key signed: {kids:?}");
    verifier.child.kill().await.expect("verifier stopped");
}

#[tokio::test]
async fn old_tokens_verify_until_key_retires() {
    let redis = RedisServer::start();
    let host = start(&redis).await;
    let old = issue(&host).await;
    let old_kid = kid_of(&old);
    let rotation = rotate(&host).await;
    until_active(&rotation).await;
    host.stop().await;

    let host = start(&redis).await;
    assert_ne!(kid_of(&issue(&host).await), old_kid);
    assert!(
        host.verifier().verify(&old).await.is_ok(),
        "restart keeps old keys"
    );
    assert!(jwks_kids(&host).await.contains(&old_kid));

    // The old key stops signing at activation and stays published for `retain` after.
    let activates_at = rotation["activatesAt"].as_u64().unwrap();
    sleep_until(activates_at + RETAIN, Duration::from_millis(2500)).await;
    assert!(
        !jwks_kids(&host).await.contains(&old_kid),
        "retired key unpublished"
    );
    let result = host.verifier().verify(&old).await;
    assert!(matches!(result, Err(VerifyError::UnknownKey)), "{result:?}");
}

#[tokio::test]
async fn stored_keys_encrypted_under_secret() {
    let redis = RedisServer::start();
    let host = start(&redis).await;
    rotate(&host).await;
    host.stop().await;

    let mut connection = redis.connection().await;
    let stored: Vec<u8> = connection.get("latchkey:jwt:keyset").await.unwrap();
    let set: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(set["version"], 2);
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for key in keys {
        let sealed = STANDARD
            .decode(key["private_key"].as_str().unwrap())
            .unwrap();
        // A PKCS#8 PrivateKeyInfo begins with a SEQUENCE, then INTEGER 0.
        let plaintext_prefix = [0x02, 0x01, 0x00];
        assert!(
            !sealed
                .windows(3)
                .take(8)
                .any(|window| window == plaintext_prefix),
            "the private key of {} looks like plain PKCS#8",
            key["kid"]
        );
    }
    let text = String::from_utf8_lossy(&stored);
    assert!(!text.contains("MII"), "no base64 DER in the stored set");

    let wrong = config().replace(ENCRYPTION_SECRET, "another secret of enough length");
    let error = TestHost::try_start(&Backend::Redis(redis.url()), &wrong)
        .await
        .expect_err("a wrong secret stops start-up");
    let message = format!("{error:#}");
    assert!(message.contains("key encryption secret"), "{message}");
    let after: Vec<u8> = connection.get("latchkey:jwt:keyset").await.unwrap();
    assert_eq!(after, stored, "the unreadable set was left unchanged");
}

#[tokio::test]
async fn jwks_etag_answers_304_until_the_set_changes() {
    let redis = RedisServer::start();
    let host = start(&redis).await;
    let response = host.http().get(host.url(JWKS)).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["cache-control"], "public, max-age=2");

    let cached = host
        .http()
        .get(host.url(JWKS))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"], etag.as_str());
    assert!(cached.bytes().await.unwrap().is_empty());

    rotate(&host).await;
    let changed = host
        .http()
        .get(host.url(JWKS))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn key_admin_routes_need_the_keys_scope() {
    let redis = RedisServer::start();
    let host = start(&redis).await;
    for (method, path) in [(Method::GET, KEYS), (Method::POST, ROTATE)] {
        let response = host
            .http()
            .request(method.clone(), host.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        let (status, _) = host
            .send_with_token(method.clone(), path, "wrong", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    assert_eq!(jwks_kids(&host).await.len(), 1, "nothing rotated");
}

#[tokio::test]
async fn lost_key_set_written_back() {
    let mut redis = RedisServer::start();
    let host = start(&redis).await;
    let kid = kid_of(&issue(&host).await);
    redis.restart();
    let mut connection = redis.connection().await;
    let mut stored: Option<Vec<u8>> = None;
    for _ in 0..50 {
        stored = connection.get("latchkey:jwt:keyset").await.unwrap();
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(stored.is_some(), "the key set was written back");
    let other = start(&redis).await;
    assert_eq!(
        kid_of(&issue(&other).await),
        kid,
        "a new instance signs with the same key"
    );
}

/// Runs `latchkey --config <file> <args>` and returns whether it succeeded and its output.
/// It runs as a child process while this test's runtime keeps serving the host.
async fn run_cli(config_file: &Path, args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(latchkey_binary())
        .arg("--config")
        .arg(config_file)
        .args(args)
        .env_remove("LATCHKEY_PROFILE")
        .output()
        .await
        .expect("latchkey runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn cli_lists_rotates_and_checks_the_published_jwks() {
    let redis = RedisServer::start();
    let host = start(&redis).await;
    let kid = kid_of(&issue(&host).await);
    let directory = std::env::temp_dir().join(format!("latchkey-cli-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let config_file = directory.join("latchkey.toml");
    let store = format!(
        "[store]\nkind = \"redis\"\nredis_url = \"{}\"\n",
        redis.url()
    );
    std::fs::write(&config_file, format!("{store}{}", config())).unwrap();

    let (ok, listing) = run_cli(&config_file, &["keys", "list"]).await;
    assert!(ok, "{listing}");
    assert!(
        listing.contains(&kid) && listing.contains("signing"),
        "{listing}"
    );

    let (ok, rotated) = run_cli(&config_file, &["keys", "rotate"]).await;
    assert!(ok, "{rotated}");
    assert!(rotated.starts_with("published next key"), "{rotated}");

    // The host publishes the next key within refresh_every.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (ok, report) = run_cli(&config_file, &["jwks", "check", &host.url(JWKS)]).await;
    assert!(ok, "{report}");
    assert!(
        report.contains("a canary token of the next key"),
        "{report}"
    );
    assert!(report.contains("JWT user ID claim: sub"), "{report}");

    let (ok, report) = run_cli(
        &config_file,
        &["jwks", "check", &host.url("/api/auth/challenge/login")],
    )
    .await;
    assert!(!ok, "a document that is not a JWKS fails: {report}");
    std::fs::remove_dir_all(&directory).ok();
}

#[tokio::test]
async fn es256_host_tokens_verify_from_the_jwks() {
    let redis = RedisServer::start();
    let extra = format!("{}algorithm = \"ES256\"\n", config());
    let host = TestHost::start_with(&Backend::Redis(redis.url()), &extra).await;
    let token = issue(&host).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);

    let (_, jwks) = host.get(JWKS).await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    let verified = verify_with_jwks(&host.url(JWKS), &token).await;
    assert!(verified.is_ok(), "{verified:?}");
    let mut verifier = CachingVerifier::start(&host.url(JWKS));
    let answer = verifier.verify(&token).await;
    assert_eq!(
        answer["ok"], true,
        "jose verifies ES256 from the JWKS: {answer}"
    );
    verifier.child.kill().await.expect("verifier stopped");
}

#[tokio::test]
async fn keys_survive_lost_set_and_newcomer() {
    let redis = RedisServer::start();
    let first = start(&redis).await;
    let token = issue(&first).await;
    let mut connection = redis.connection().await;
    let _: () = connection.del("latchkey:jwt:keyset").await.unwrap();

    // A new instance finds no set and stores a new one before the first writes its back.
    let newcomer = start(&redis).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for host in [&first, &newcomer] {
        assert!(
            jwks_kids(host).await.contains(&kid_of(&token)),
            "the old key stays published"
        );
        assert!(host.verifier().verify(&token).await.is_ok());
    }
    let later = start(&redis).await;
    assert_eq!(
        kid_of(&issue(&later).await),
        kid_of(&token),
        "the old key still signs"
    );
}

#[tokio::test]
async fn development_secret_written_back_with_the_set() {
    let redis = RedisServer::start();
    let without_secret = config().replace(
        &format!("key_encryption_secret = \"{ENCRYPTION_SECRET}\"\n"),
        "",
    );
    let backend = Backend::Redis(redis.url());
    let host = TestHost::start_with(&backend, &without_secret).await;
    let kid = kid_of(&issue(&host).await);
    let mut connection = redis.connection().await;
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut connection)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let restarted = TestHost::try_start(&backend, &without_secret).await;
    let restarted = restarted.expect("the written-back set decrypts");
    assert_eq!(kid_of(&issue(&restarted).await), kid);
}

#[tokio::test]
async fn set_with_every_key_retired_refused() {
    let redis = RedisServer::start();
    let host = start(&redis).await;
    let kid = kid_of(&issue(&host).await);
    let mut connection = redis.connection().await;
    let stored: Vec<u8> = connection.get("latchkey:jwt:keyset").await.unwrap();
    let mut set: Value = serde_json::from_slice(&stored).unwrap();
    for key in set["keys"].as_array_mut().unwrap() {
        key["retires_at"] = 1.into();
    }
    let tampered = serde_json::to_vec(&set).unwrap();
    let _: () = connection
        .set("latchkey:jwt:keyset", &tampered)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;

    assert_eq!(
        jwks_kids(&host).await,
        std::slice::from_ref(&kid),
        "the running host keeps its set"
    );
    let error = TestHost::try_start(&Backend::Redis(redis.url()), &config())
        .await
        .expect_err("a set that publishes nothing stops start-up");
    assert!(
        format!("{error:#}").contains("publishes no key"),
        "{error:#}"
    );
    let after: Vec<u8> = connection.get("latchkey:jwt:keyset").await.unwrap();
    assert_eq!(after, tampered, "never overwritten");
}

#[tokio::test]
async fn jwks_answers_head() {
    let redis = RedisServer::start();
    let host = start(&redis).await;
    let response = host.http().head(host.url(JWKS)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("etag"));
}
