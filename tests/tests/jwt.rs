//! The `jwt` plugin over HTTP: the JWKS route, key sets shared and kept through Redis, and
//! the token verifier's rejections.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey_sdk::capability::{TokenRequest, VerifyError};
use latchkey_tests::{Backend, RedisServer, TestHost, verify_with_jwks};
use redis::AsyncCommands;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{Value, json};

const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Key of the signing key set in Redis: the default `store.key_prefix` and the plugin's key.
const KEY_SET_KEY: &str = "latchkey:jwt:keyset";

/// Upper bound on each test, so that a host that stops responding fails the test instead
/// of hanging it.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test finished within 60 seconds")
}

async fn issue(host: &TestHost, subject: &str) -> String {
    let request = TokenRequest::new(subject).claim("credentialID", "cred-1");
    host.issuer()
        .issue(request)
        .await
        .expect("token issued")
        .token
}

async fn jwks(host: &TestHost) -> Value {
    let (status, body) = host.get(JWKS_PATH).await;
    assert_eq!(status, StatusCode::OK);
    body
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys is an array")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid is a string").to_owned())
        .collect();
    kids.sort();
    kids
}

fn header_kid(token: &str) -> String {
    let header = jsonwebtoken::decode_header(token).expect("token header decodes");
    header.kid.expect("token header has a kid")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn jwks_served_with_rs256_keys() {
    bounded(async {
        let host = TestHost::start(&Backend::Memory).await;
        let response = host
            .http()
            .get(host.url(JWKS_PATH))
            .send()
            .await
            .expect("GET sent");

        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        let content_type = headers[CONTENT_TYPE].to_str().expect("ASCII header");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(headers[CACHE_CONTROL], "public, max-age=300");

        let document: Value = response.json().await.expect("JWKS is JSON");
        let keys = document["keys"].as_array().expect("keys is an array");
        assert!(!keys.is_empty(), "{document}");
        for key in keys {
            assert_eq!(key["kty"], "RSA", "{key}");
            assert_eq!(key["use"], "sig", "{key}");
            assert_eq!(key["alg"], "RS256", "{key}");
            let kid = key["kid"].as_str().expect("kid is a string");
            assert!(!kid.is_empty(), "{key}");
            let n = URL_SAFE_NO_PAD
                .decode(key["n"].as_str().expect("n is a string"))
                .expect("n is base64url without padding");
            assert_eq!(n.len(), 256, "a 2048-bit modulus is 256 bytes: {key}");
            assert_ne!(n[0], 0, "n has no leading zero byte: {key}");
            let e = URL_SAFE_NO_PAD
                .decode(key["e"].as_str().expect("e is a string"))
                .expect("e is base64url without padding");
            assert_eq!(e, [1, 0, 1], "{key}");
        }

        let token = issue(&host, "user-1").await;
        assert!(kids(&document).contains(&header_kid(&token)));
        host.stop().await;
    })
    .await;
}

#[tokio::test]
async fn every_response_has_request_id() {
    bounded(async {
        let host = TestHost::start(&Backend::Memory).await;
        let mut ids = Vec::new();
        let requests = [
            ("GET", JWKS_PATH, StatusCode::OK),
            ("GET", JWKS_PATH, StatusCode::OK),
            ("GET", "/no/such/path", StatusCode::NOT_FOUND),
            ("DELETE", JWKS_PATH, StatusCode::METHOD_NOT_ALLOWED),
        ];
        for (method, path, expected_status) in requests {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
            let response = host
                .http()
                .request(method.clone(), host.url(path))
                .send()
                .await
                .expect("request sent");
            assert_eq!(response.status(), expected_status, "{method} {path}");
            let id = response
                .headers()
                .get("x-request-id")
                .unwrap_or_else(|| panic!("{method} {path}: response without x-request-id"));
            let id = id.to_str().expect("ASCII header").to_owned();
            assert!(!id.is_empty(), "{method} {path}: empty x-request-id");
            ids.push(id);
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(
            distinct.len(),
            ids.len(),
            "two requests got the same ID: {ids:?}"
        );
        host.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_path_answers_json_404() {
    bounded(async {
        let host = TestHost::start(&Backend::Memory).await;
        let response = host
            .http()
            .get(host.url("/no/such/path"))
            .send()
            .await
            .expect("GET sent");

        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ASCII header")
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let body: Value = response.json().await.expect("404 body is JSON");
        assert_eq!(body["code"], "not_found", "{body}");
        let error = body["error"].as_str().expect("error is a string");
        assert!(!error.is_empty(), "{body}");
        host.stop().await;
    })
    .await;
}

#[tokio::test]
async fn hosts_on_one_redis_share_keys() {
    bounded(async {
        let redis = RedisServer::start();
        let backend = Backend::Redis(redis.url());
        // Started together, so both may generate a key and race to store it.
        let (first, second) = tokio::join!(TestHost::start(&backend), TestHost::start(&backend));

        let (first_jwks, second_jwks) = (jwks(&first).await, jwks(&second).await);
        assert_eq!(kids(&first_jwks), kids(&second_jwks));
        assert_eq!(first_jwks, second_jwks);

        let token = issue(&first, "user-1").await;
        let verified = verify_with_jwks(&second.url(JWKS_PATH), &token)
            .await
            .expect("a token of the first host verifies with the JWKS of the second");
        assert_eq!(verified.claims["sub"], "user-1");
        assert_eq!(verified.claims["credentialID"], "cred-1");
        assert!(kids(&second_jwks).contains(&verified.kid));

        let from_second = second.verifier().verify(&token).await;
        assert_eq!(from_second.expect("second host verifies").subject, "user-1");
        first.stop().await;
        second.stop().await;
    })
    .await;
}

#[tokio::test]
async fn restarted_host_keeps_its_key() {
    bounded(async {
        let redis = RedisServer::start();
        let backend = Backend::Redis(redis.url());
        let before = TestHost::start(&backend).await;
        let kids_before = kids(&jwks(&before).await);
        let token = issue(&before, "user-1").await;
        before.stop().await;

        let after = TestHost::start(&backend).await;
        assert_eq!(kids(&jwks(&after).await), kids_before);
        let verified = verify_with_jwks(&after.url(JWKS_PATH), &token)
            .await
            .expect("a token issued before the restart verifies with the new JWKS");
        assert_eq!(verified.claims["sub"], "user-1");
        let verified = after
            .verifier()
            .verify(&token)
            .await
            .expect("the restarted host's verifier accepts the token");
        assert_eq!(verified.subject, "user-1");
        assert_eq!(
            header_kid(&issue(&after, "user-2").await),
            header_kid(&token)
        );
        after.stop().await;
    })
    .await;
}

#[tokio::test]
async fn corrupted_key_set_stops_start() {
    bounded(async {
        let redis = RedisServer::start();
        let backend = Backend::Redis(redis.url());
        let mut connection = redis.connection().await;
        let corrupted: [&[u8]; 3] = [
            b"\x00\xffnot json",
            br#"{"version":1,"keys":"oops"}"#,
            br#"{"version":1,"keys":[{"kid":"k","alg":"RS256","created_at":1,"private_key":"AAAA"}]}"#,
        ];
        for garbage in corrupted {
            let () = connection
                .set(KEY_SET_KEY, garbage)
                .await
                .expect("garbage written");

            let error = match TestHost::try_start(&backend, "").await {
                Ok(host) => {
                    host.stop().await;
                    panic!("a host started on the key set {garbage:?}");
                }
                Err(error) => format!("{error:#}"),
            };
            assert!(error.contains("key set"), "{error}");
            assert!(error.contains("jwt:keyset"), "{error}");

            let stored: Vec<u8> = connection.get(KEY_SET_KEY).await.expect("key readable");
            assert_eq!(stored, garbage, "the stored key set was changed");
        }
    })
    .await;
}

/// A host with its kid and its private key, read from its store, to sign tokens that
/// differ from the host's own tokens in one way only.
struct Forger {
    host: TestHost,
    kid: String,
    private_key: EncodingKey,
}

impl Forger {
    async fn start() -> Self {
        let host = TestHost::start(&Backend::Memory).await;
        let stored = host
            .server()
            .store()
            .get("jwt:keyset")
            .await
            .expect("store readable")
            .expect("key set stored");
        let stored: Value = serde_json::from_slice(&stored).expect("key set is JSON");
        // Without a configured secret, the development profile keeps a random one in the
        // store.
        let secret = host
            .server()
            .store()
            .get("jwt:development_encryption_secret")
            .await
            .expect("store readable")
            .expect("development secret stored");
        let key = &stored["keys"][0];
        let pkcs8 = decrypt_private_key(&stored, key, &secret);
        let private_key = EncodingKey::from_rsa_der(pkcs1_of_pkcs8(&pkcs8));
        Self {
            kid: key["kid"].as_str().expect("kid is a string").to_owned(),
            host,
            private_key,
        }
    }

    fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.private_key).expect("token encoded")
    }

    async fn verify(&self, token: &str) -> Result<String, VerifyError> {
        let verified = self.host.verifier().verify(token).await?;
        Ok(verified.subject)
    }
}

fn claims_expiring_at(exp: u64) -> Value {
    json!({"sub": "user-1", "jti": "id-1", "iat": exp.saturating_sub(600), "exp": exp})
}

#[tokio::test]
async fn forged_key_signs_like_host() {
    // The control for the rejections below: with the right kid and a future exp, a token
    // the forger signs is accepted, so each rejection is caused by the one change made.
    bounded(async {
        let forger = Forger::start().await;
        let token = forger.sign(Some(&forger.kid), &claims_expiring_at(now() + 600));
        assert_eq!(forger.verify(&token).await.expect("accepted"), "user-1");
        verify_with_jwks(&forger.host.url(JWKS_PATH), &token)
            .await
            .expect("accepted from the JWKS");
        forger.host.stop().await;
    })
    .await;
}

#[tokio::test]
async fn alg_none_rejected() {
    bounded(async {
        let forger = Forger::start().await;
        let claims = claims_expiring_at(now() + 600);
        for alg in ["none", "None", "NONE"] {
            let header = json!({"alg": alg, "typ": "JWT", "kid": forger.kid});
            for signature in ["", "AAAA"] {
                let token = format!(
                    "{}.{}.{signature}",
                    encode_part(&header),
                    encode_part(&claims)
                );
                let result = forger.verify(&token).await;
                assert!(
                    matches!(result, Err(VerifyError::Malformed)),
                    "alg {alg}: {result:?}"
                );
                let jwks_result = verify_with_jwks(&forger.host.url(JWKS_PATH), &token).await;
                assert!(jwks_result.is_err(), "alg {alg} accepted from the JWKS");
            }
        }
        forger.host.stop().await;
    })
    .await;
}

#[tokio::test]
async fn hs256_keyed_with_public_key_rejected() {
    bounded(async {
        let forger = Forger::start().await;
        let (status, jwks_body) = forger.host.get(JWKS_PATH).await;
        assert_eq!(status, StatusCode::OK);
        let jwk = &jwks_body["keys"][0];
        let n = URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().expect("n"))
            .expect("n decodes");
        let e = URL_SAFE_NO_PAD
            .decode(jwk["e"].as_str().expect("e"))
            .expect("e decodes");
        let der = rsa_public_key_der(&n, &e);
        let pem = pem("RSA PUBLIC KEY", &der);
        let jwks_text = jwks_body.to_string();

        let claims = claims_expiring_at(now() + 600);
        for (name, secret) in [
            ("PKCS#1 DER", der.as_slice()),
            ("PKCS#1 PEM", pem.as_bytes()),
            ("JWKS", jwks_text.as_bytes()),
            ("modulus", n.as_slice()),
        ] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(forger.kid.clone());
            let key = EncodingKey::from_secret(secret);
            let token = jsonwebtoken::encode(&header, &claims, &key).expect("HS256 encoded");
            let result = forger.verify(&token).await;
            assert!(
                matches!(result, Err(VerifyError::Malformed)),
                "secret {name}: {result:?}"
            );
            let jwks_result = verify_with_jwks(&forger.host.url(JWKS_PATH), &token).await;
            assert!(jwks_result.is_err(), "secret {name} accepted from the JWKS");
        }
        forger.host.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_kid_rejected() {
    bounded(async {
        let forger = Forger::start().await;
        let claims = claims_expiring_at(now() + 600);
        for kid in [Some("not-a-known-kid"), Some(""), None] {
            let token = forger.sign(kid, &claims);
            let result = forger.verify(&token).await;
            assert!(
                matches!(result, Err(VerifyError::UnknownKey)),
                "kid {kid:?}: {result:?}"
            );
            let jwks_result = verify_with_jwks(&forger.host.url(JWKS_PATH), &token).await;
            assert!(jwks_result.is_err(), "kid {kid:?} accepted from the JWKS");
        }
        forger.host.stop().await;
    })
    .await;
}

#[tokio::test]
async fn tampered_payload_rejected() {
    bounded(async {
        let forger = Forger::start().await;
        let token = issue(&forger.host, "user-1").await;
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("payload decodes");
        let mut claims: Value = serde_json::from_slice(&payload).expect("payload is JSON");

        for (claim, forged) in [
            ("sub", json!("admin")),
            ("exp", json!(now() + 86_400 * 365)),
        ] {
            let original = claims[claim].clone();
            claims[claim] = forged;
            let token = format!("{}.{}.{}", parts[0], encode_part(&claims), parts[2]);
            let result = forger.verify(&token).await;
            assert!(
                matches!(result, Err(VerifyError::BadSignature)),
                "{claim} changed: {result:?}"
            );
            claims[claim] = original;
        }
        forger.host.stop().await;
    })
    .await;
}

#[tokio::test]
async fn truncated_signature_rejected() {
    bounded(async {
        let forger = Forger::start().await;
        let token = issue(&forger.host, "user-1").await;
        assert!(forger.verify(&token).await.is_ok(), "the untouched token");
        let (message, encoded) = token.rsplit_once('.').expect("three parts");
        let signature = URL_SAFE_NO_PAD.decode(encoded).expect("signature decodes");
        assert_eq!(signature.len(), 256);

        for kept_bytes in [255, 128, 1, 0] {
            let truncated = format!(
                "{message}.{}",
                URL_SAFE_NO_PAD.encode(&signature[..kept_bytes])
            );
            let result = forger.verify(&truncated).await;
            assert!(
                matches!(result, Err(VerifyError::BadSignature)),
                "{kept_bytes} signature bytes kept: {result:?}"
            );
        }
        // Cutting characters may also leave base64url that does not decode.
        for cut in 1..=4 {
            let result = forger.verify(&token[..token.len() - cut]).await;
            assert!(
                matches!(
                    result,
                    Err(VerifyError::BadSignature | VerifyError::Malformed)
                ),
                "{cut} characters cut: {result:?}"
            );
        }
        forger.host.stop().await;
    })
    .await;
}

#[tokio::test]
async fn expired_token_rejected() {
    bounded(async {
        let forger = Forger::start().await;
        // The default leeway is 60 seconds, so an `exp` 61 or more seconds ago is expired.
        for age in [61, 3600] {
            let token = forger.sign(Some(&forger.kid), &claims_expiring_at(now() - age));
            let result = forger.verify(&token).await;
            assert!(
                matches!(result, Err(VerifyError::Expired)),
                "exp {age} s ago: {result:?}"
            );
            let jwks_result = verify_with_jwks(&forger.host.url(JWKS_PATH), &token).await;
            assert!(
                jwks_result.is_err(),
                "exp {age} s ago accepted from the JWKS"
            );
        }
        let without_exp = forger.sign(Some(&forger.kid), &json!({"sub": "user-1", "jti": "id-1"}));
        let result = forger.verify(&without_exp).await;
        assert!(
            matches!(result, Err(VerifyError::InvalidClaim { name: "exp" })),
            "no exp: {result:?}"
        );
        forger.host.stop().await;
    })
    .await;
}

/// Decrypts the private key of stored `key` as the stored format documents it: AES-256-GCM
/// with the `kid` as associated data, under the key HKDF-SHA256 derives from `secret` and
/// the set's `salt`. Written with the RustCrypto crates, not the ring code the plugin uses.
fn decrypt_private_key(set: &Value, key: &Value, secret: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};

    let salt = STANDARD
        .decode(set["salt"].as_str().expect("salt is a string"))
        .expect("salt is base64");
    let sealed = STANDARD
        .decode(
            key["private_key"]
                .as_str()
                .expect("private_key is a string"),
        )
        .expect("private key is base64");
    let mut derived = [0_u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), secret)
        .expand(b"latchkey jwt signing key encryption v2", &mut derived)
        .expect("32 bytes expand");
    let cipher = Aes256Gcm::new_from_slice(&derived).expect("32-byte key");
    let (nonce, ciphertext) = sealed.split_at(12);
    let kid = key["kid"].as_str().expect("kid is a string");
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: kid.as_bytes(),
            },
        )
        .expect("private key decrypts with the development secret")
}

/// Returns the PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (RFC 5208
/// section 5): the content of the OCTET STRING after the version and the algorithm.
fn pkcs1_of_pkcs8(pkcs8: &[u8]) -> &[u8] {
    let (tag, info, _) = der_element(pkcs8);
    assert_eq!(tag, 0x30, "PrivateKeyInfo is a SEQUENCE");
    let (tag, _, rest) = der_element(info);
    assert_eq!(tag, 0x02, "version is an INTEGER");
    let (tag, _, rest) = der_element(rest);
    assert_eq!(tag, 0x30, "privateKeyAlgorithm is a SEQUENCE");
    let (tag, private_key, _) = der_element(rest);
    assert_eq!(tag, 0x04, "privateKey is an OCTET STRING");
    private_key
}

/// Splits one DER element off `bytes`: its tag, its content, and the bytes after it.
fn der_element(bytes: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = bytes[0];
    let (length, header_len) = match bytes[1] {
        short if short < 0x80 => (usize::from(short), 2),
        long => {
            let count = usize::from(long & 0x7f);
            let length = bytes[2..2 + count]
                .iter()
                .fold(0, |length, byte| length << 8 | usize::from(*byte));
            (length, 2 + count)
        }
    };
    let (content, rest) = bytes[header_len..].split_at(length);
    (tag, content, rest)
}

/// Encodes a PKCS#1 `RSAPublicKey` (RFC 8017 appendix A.1.1) of modulus `n` and exponent
/// `e`, both big-endian without leading zeros.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut content = der_unsigned_integer(n);
    content.extend(der_unsigned_integer(e));
    der(0x30, &content)
}

fn der_unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    // A set top bit would read as negative, so a zero byte goes first.
    let mut content = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_some_and(|byte| byte & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(magnitude);
    der(0x02, &content)
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut encoded = vec![tag];
    let length = content.len();
    if length < 0x80 {
        encoded.push(u8::try_from(length).expect("short form"));
    } else {
        let bytes: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|byte| *byte == 0)
            .collect();
        encoded.push(0x80 | u8::try_from(bytes.len()).expect("few length bytes"));
        encoded.extend(bytes);
    }
    encoded.extend_from_slice(content);
    encoded
}

fn pem(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}
