//! Throughput of RS256 token signing: the raw signature with a parsed key (the floor),
//! `JwtIssuer::issue` end to end, and jsonwebtoken's `encode` with a key from DER, which
//! parses the key on every call. Two more rows show the cost of RSA blinding (the raw
//! signature without it) and of parsing the key alone.
//!
//! Run with `cargo bench -p latchkey-jwt --bench issue`.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header};
use latchkey_jwt::{JwtIssuer, Key, KeySet};
use latchkey_sdk::capability::{TokenIssuer, TokenRequest};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs1v15::SigningKey;
use rsa::rand_core::OsRng;
use rsa::signature::{RandomizedSigner, Signer};
use serde_json::{Map, Value};
use sha2::Sha256;

fn signing(c: &mut Criterion) {
    let private_key = RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key generated");
    let key = Key::new(private_key.clone(), SystemTime::now()).expect("key valid");
    let keys = KeySet::new(vec![key]).expect("key set valid");
    let issuer = JwtIssuer::new(&keys, Duration::from_secs(86_400))
        .issuer("https://auth.example.com")
        .audience("my-app");
    let request = TokenRequest::new("9f3c2a4e-5b7d-4c1e-8a6f-2d9b0e4f7a13")
        .claim("credentialID", "mW3xQJc1c2FzZGZhc2RmYXNkZmFzZGZhc2Rm");

    // A token as the issuer writes it: its header and claims are the typical message.
    let token = issuer.sign(&request).expect("token signed").token;
    let message = token.rsplit_once('.').expect("three parts").0.to_owned();
    let claims_part = message.split_once('.').expect("two parts").1;
    let claims: Map<String, Value> =
        serde_json::from_slice(&base64_url_decode(claims_part).expect("claims are base64url"))
            .expect("claims are JSON");

    let signer = SigningKey::<Sha256>::new(private_key.clone());
    let der = private_key.to_pkcs1_der().expect("PKCS#1 DER encoded");
    let encoding_key = EncodingKey::from_rsa_der(der.as_bytes());
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(keys.signing_key().kid().to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime built");

    let mut group = c.benchmark_group("rs256");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_sign_parsed_key", |b| {
        b.iter(|| signer.sign_with_rng(&mut OsRng, black_box(message.as_bytes())));
    });
    group.bench_function("raw_sign_parsed_key_unblinded", |b| {
        b.iter(|| signer.sign(black_box(message.as_bytes())));
    });
    group.bench_function("jwt_issuer_issue", |b| {
        b.iter(|| runtime.block_on(issuer.issue(black_box(request.clone()))));
    });
    group.bench_function("jsonwebtoken_encode_der", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding_key));
    });
    // The part of (c) that (a) skips: parsing the key, as jsonwebtoken does on every call.
    group.bench_function("parse_pkcs1_der", |b| {
        b.iter(|| RsaPrivateKey::from_pkcs1_der(black_box(der.as_bytes())));
    });
    group.finish();
}

fn base64_url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text)
}

criterion_group!(benches, signing);
criterion_main!(benches);
