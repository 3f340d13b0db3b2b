//! Throughput of RS256 token signing, one 2048-bit key throughout:
//!
//! - `ring_sign_parsed_key`: the floor, a raw signature with a `ring` key pair parsed
//!   once, which is what the issuer holds.
//! - `jwt_issuer_sign`: `JwtIssuer::sign` end to end on the calling thread (claims,
//!   base64url and the signature).
//! - `jwt_issuer_issue`: `TokenIssuer::issue`, the capability the passkey plugin calls,
//!   which hands `sign` to tokio's blocking pool on a 2-worker runtime.
//! - `jsonwebtoken_encode_der`: jsonwebtoken 10.4 `encode` with an `EncodingKey` from
//!   PKCS#1 DER, which parses the key with the `rsa` crate on every call.
//! - `rsa_sign_parsed_key`: a raw signature with the `rsa` 0.9 crate and a key parsed
//!   once, with blinding, as the issuer signed before it used `ring`.
//! - `ring_parse_and_sign`: `ring` parsing the PKCS#8 key before every signature, the cost
//!   of an API that keeps only the DER, and `ring_parse_pkcs8`, the parsing alone.
//!
//! After the criterion group, a probe measures what signing does to the runtime. It
//! starts four signings on a 2-worker runtime, then a trivial task, and records how long
//! the trivial task waits before it runs. It does this with `sign` called inline on the
//! workers and with `issue`, and prints the median, 99th percentile and maximum wait.
//!
//! Run with `cargo bench -p latchkey-jwt --bench issue`. The results and the machine they
//! were measured on are in `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group};
use jsonwebtoken::{EncodingKey, Header};
use latchkey_jwt::{JwtIssuer, Key, KeySet};
use latchkey_sdk::capability::{TokenIssuer, TokenRequest};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePrivateKey;
use rsa::rand_core::OsRng;
use rsa::signature::RandomizedSigner;
use serde_json::{Map, Value};
use sha2::Sha256;

/// Everything the benchmarks sign with, built once.
struct Fixture {
    issuer: JwtIssuer,
    request: TokenRequest,
    /// The header and claims part of a token the issuer wrote, the typical signed message.
    message: String,
    claims: Map<String, Value>,
    header: Header,
    pkcs1_der: Vec<u8>,
    pkcs8_der: Vec<u8>,
    rsa_signer: SigningKey<Sha256>,
}

impl Fixture {
    fn new() -> Self {
        let private_key = RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key generated");
        let key = Key::new(private_key.clone(), SystemTime::now()).expect("key valid");
        let keys = KeySet::new(vec![key]).expect("key set valid");
        let issuer = JwtIssuer::new(&keys, Duration::from_secs(86_400))
            .issuer("https://auth.example.com")
            .audience("my-app");
        let request = TokenRequest::new("9f3c2a4e-5b7d-4c1e-8a6f-2d9b0e4f7a13")
            .claim("credentialID", "mW3xQJc1c2FzZGZhc2RmYXNkZmFzZGZhc2Rm");

        let token = issuer.sign(&request).expect("token signed").token;
        let message = token.rsplit_once('.').expect("three parts").0.to_owned();
        let claims_part = message.split_once('.').expect("two parts").1;
        let claims_json = URL_SAFE_NO_PAD
            .decode(claims_part)
            .expect("claims are base64url");
        let claims = serde_json::from_slice(&claims_json).expect("claims are JSON");

        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(keys.signing_key().kid().to_owned());
        let pkcs1_der = private_key.to_pkcs1_der().expect("PKCS#1 DER encoded");
        let pkcs8_der = private_key.to_pkcs8_der().expect("PKCS#8 DER encoded");
        Self {
            issuer,
            request,
            message,
            claims,
            header,
            pkcs1_der: pkcs1_der.as_bytes().to_vec(),
            pkcs8_der: pkcs8_der.as_bytes().to_vec(),
            rsa_signer: SigningKey::new(private_key),
        }
    }
}

fn signing(c: &mut Criterion) {
    let fixture = Fixture::new();
    let key_pair = RsaKeyPair::from_pkcs8(&fixture.pkcs8_der).expect("ring accepts the key");
    let random = SystemRandom::new();
    let mut signature = vec![0; key_pair.public().modulus_len()];
    let encoding_key = EncodingKey::from_rsa_der(&fixture.pkcs1_der);
    let runtime = server_runtime();

    let mut group = c.benchmark_group("rs256");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ring_sign_parsed_key", |b| {
        b.iter(|| {
            let message = black_box(fixture.message.as_bytes());
            key_pair.sign(&RSA_PKCS1_SHA256, &random, message, &mut signature)
        });
    });
    group.bench_function("jwt_issuer_sign", |b| {
        b.iter(|| fixture.issuer.sign(black_box(&fixture.request)));
    });
    group.bench_function("jwt_issuer_issue", |b| {
        b.iter(|| runtime.block_on(fixture.issuer.issue(black_box(fixture.request.clone()))));
    });
    group.bench_function("jsonwebtoken_encode_der", |b| {
        b.iter(|| jsonwebtoken::encode(&fixture.header, black_box(&fixture.claims), &encoding_key));
    });
    group.bench_function("rsa_sign_parsed_key", |b| {
        b.iter(|| {
            let message = black_box(fixture.message.as_bytes());
            fixture.rsa_signer.sign_with_rng(&mut OsRng, message)
        });
    });
    group.bench_function("ring_parse_pkcs8", |b| {
        b.iter(|| RsaKeyPair::from_pkcs8(black_box(&fixture.pkcs8_der)));
    });
    group.bench_function("ring_parse_and_sign", |b| {
        b.iter(|| {
            let parsed = RsaKeyPair::from_pkcs8(black_box(&fixture.pkcs8_der));
            let parsed = parsed.expect("ring accepts the key");
            let message = black_box(fixture.message.as_bytes());
            parsed.sign(&RSA_PKCS1_SHA256, &random, message, &mut signature)
        });
    });
    group.finish();
}

/// Signings in flight while the probe waits: a burst of logins larger than the worker count.
const IN_FLIGHT: usize = 4;

/// Rounds of the probe per variant, and the time after which it stops early.
const PROBE_ROUNDS: usize = 300;
const PROBE_DEADLINE: Duration = Duration::from_secs(20);

/// Prints how long a trivial task waits for a runtime worker while signings are in flight,
/// with `sign` called on the workers and with `issue`, which moves it to the blocking pool.
fn runtime_probe() {
    let fixture = Fixture::new();
    let runtime = server_runtime();
    let inline = probe_waits(&runtime, || {
        let issuer = fixture.issuer.clone();
        let request = fixture.request.clone();
        tokio::spawn(async move { drop(black_box(issuer.sign(&request))) })
    });
    let blocking = probe_waits(&runtime, || {
        let issuer = fixture.issuer.clone();
        let request = fixture.request.clone();
        tokio::spawn(async move { drop(black_box(issuer.issue(request).await)) })
    });
    for (name, waits) in [("sign inline", inline), ("issue", blocking)] {
        print_waits(name, waits);
    }
}

/// Spawns [`IN_FLIGHT`] signers with `spawn_signer`, then a trivial task, and returns the
/// trivial task's wait of each round.
fn probe_waits(
    runtime: &tokio::runtime::Runtime,
    spawn_signer: impl Fn() -> tokio::task::JoinHandle<()>,
) -> Vec<Duration> {
    let deadline = Instant::now() + PROBE_DEADLINE;
    let mut waits = Vec::with_capacity(PROBE_ROUNDS);
    while waits.len() < PROBE_ROUNDS && Instant::now() < deadline {
        let wait = runtime.block_on(async {
            let signers: Vec<_> = (0..IN_FLIGHT).map(|_| spawn_signer()).collect();
            let spawned_at = Instant::now();
            let probe = tokio::spawn(async move { spawned_at.elapsed() });
            let wait = probe.await.expect("probe task completed");
            for signer in signers {
                signer.await.expect("signer task completed");
            }
            wait
        });
        waits.push(wait);
    }
    waits
}

fn print_waits(name: &str, mut waits: Vec<Duration>) {
    waits.sort();
    let Some(max) = waits.last() else {
        return;
    };
    let percentile = |share: usize| waits[(waits.len() - 1) * share / 100];
    println!(
        "runtime probe, {IN_FLIGHT} signings in flight, {name}: wait median {:?}, \
         p99 {:?}, max {max:?} over {} rounds",
        percentile(50),
        percentile(99),
        waits.len()
    );
}

/// Returns a runtime with the worker count of a server on a 2-core machine.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime built")
}

criterion_group!(benches, signing);

fn main() {
    benches();
    runtime_probe();
    Criterion::default().configure_from_args().final_summary();
}
