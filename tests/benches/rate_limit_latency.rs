//! Latency that the rate-limit hoop adds to a request, next to a Redis `PING`.
//!
//! One `redis-server` serves three cases in one run. Each case gets a warm-up, then its
//! sequential round trips are measured in rounds that alternate between the cases:
//!
//! - `redis_ping`: `PING` over one multiplexed connection, the floor of any store call;
//! - `limiter_off`: `GET /.well-known/jwks.json` on a host with the plugin disabled;
//! - `limiter_on`: the same on a host with one rule on `/` whose limit is never reached.
//!
//! Run with `cargo bench -p latchkey-tests --bench rate_limit_latency`.

use std::future::Future;
use std::time::{Duration, Instant};

use latchkey_tests::{Backend, RedisServer, TestHost};
use redis::aio::MultiplexedConnection;

/// Round trips measured per case.
const SAMPLES: usize = 2_000;

/// Rounds the samples of each case are split into, one case after the other per round.
const ROUNDS: usize = 4;

/// Round trips run and discarded before each case is measured.
const WARM_UP: usize = 200;

/// Maximum time one batch of round trips of one case may take.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

const JWKS: &str = "/.well-known/jwks.json";

/// Limit of the `limiter_on` rule, far above the `WARM_UP + SAMPLES` requests it counts.
const UNREACHED_LIMIT: u64 = 1_000_000_000;

/// Latency percentiles of one case, in microseconds.
struct Summary {
    p50: f64,
    p99: f64,
}

impl Summary {
    /// Sorts `samples` and returns their 50th and 99th percentiles (nearest rank).
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let percentile = |fraction: f64| {
            let rank = (fraction * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1e6
        };
        Self {
            p50: percentile(0.50),
            p99: percentile(0.99),
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let redis = RedisServer::start();
    let backend = Backend::Redis(redis.url());
    let connection = redis.connection().await;
    let off = TestHost::start_with(&backend, "[plugins.rate_limit]\nenabled = false\n").await;
    let on = TestHost::start_with(&backend, &unreached_rule()).await;

    measure_ping(&connection, WARM_UP).await;
    measure_get(&off, WARM_UP).await;
    measure_get(&on, WARM_UP).await;

    // Rounds interleave the cases, so that a slow spell of the shared machine lands on
    // every case rather than on whichever ran at the time.
    let mut ping = Vec::with_capacity(SAMPLES);
    let mut limiter_off = Vec::with_capacity(SAMPLES);
    let mut limiter_on = Vec::with_capacity(SAMPLES);
    for _ in 0..ROUNDS {
        ping.extend(measure_ping(&connection, SAMPLES / ROUNDS).await);
        limiter_off.extend(measure_get(&off, SAMPLES / ROUNDS).await);
        limiter_on.extend(measure_get(&on, SAMPLES / ROUNDS).await);
    }
    assert_limiter_ran(&on).await;
    off.stop().await;
    on.stop().await;

    print_table(
        &Summary::of(ping),
        &Summary::of(limiter_off),
        &Summary::of(limiter_on),
    );
}

/// Returns the TOML of the only rule of the `limiter_on` case, which replaces the defaults.
fn unreached_rule() -> String {
    format!(
        "[[plugins.rate_limit.rules]]\nname = \"bench\"\npath_prefix = \"/\"\n\
         limit = {UNREACHED_LIMIT}\nwindow = 3600\non_store_error = \"deny\"\n"
    )
}

/// Times `count` sequential `PING`s on `connection`.
async fn measure_ping(connection: &MultiplexedConnection, count: usize) -> Vec<Duration> {
    measure("redis_ping", count, || {
        let mut connection = connection.clone();
        async move {
            let reply: String = redis::cmd("PING")
                .query_async(&mut connection)
                .await
                .expect("PING succeeds");
            assert_eq!(reply, "PONG");
        }
    })
    .await
}

/// Times `count` sequential `GET`s of the JWKS on `host`, body included.
async fn measure_get(host: &TestHost, count: usize) -> Vec<Duration> {
    let url = host.url(JWKS);
    measure("GET", count, || {
        let request = host.http().get(&url).send();
        async move {
            let response = request.await.expect("GET sent");
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            response.bytes().await.expect("body read");
        }
    })
    .await
}

/// Runs `round_trip` `count` times, one at a time, and returns how long each took.
///
/// # Panics
///
/// When the calls take longer than `CASE_TIMEOUT`, including a round trip that hangs.
async fn measure<F, Fut>(case: &str, count: usize, mut round_trip: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let timed = async {
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            round_trip().await;
            samples.push(started.elapsed());
        }
        samples
    };
    match tokio::time::timeout(CASE_TIMEOUT, timed).await {
        Ok(samples) => samples,
        Err(_) => panic!("case {case} timed out after {CASE_TIMEOUT:?}"),
    }
}

/// Checks that the `limiter_on` host ran the rule, because a request it counted carries
/// the rule's `X-RateLimit-Limit`. Every measured request already returned 200.
async fn assert_limiter_ran(host: &TestHost) {
    let response = host
        .http()
        .get(host.url(JWKS))
        .send()
        .await
        .expect("GET sent");
    let limit = response
        .headers()
        .get("x-ratelimit-limit")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    assert_eq!(
        limit,
        Some(UNREACHED_LIMIT),
        "the limiter did not count the request"
    );
}

fn print_table(ping: &Summary, off: &Summary, on: &Summary) {
    let added_p50 = on.p50 - off.p50;
    let added_p99 = on.p99 - off.p99;
    println!(
        "{SAMPLES} sequential round trips per case in {ROUNDS} rounds, after {WARM_UP} \
         warm-up, in µs"
    );
    println!("| case | p50 | p99 |");
    println!("| --- | ---: | ---: |");
    println!("| `redis_ping` | {:.1} | {:.1} |", ping.p50, ping.p99);
    println!("| `limiter_off` | {:.1} | {:.1} |", off.p50, off.p99);
    println!("| `limiter_on` | {:.1} | {:.1} |", on.p50, on.p99);
    println!("| added (`on` - `off`) | {added_p50:.1} | {added_p99:.1} |");
    println!(
        "| added / `redis_ping` | {:.2} | {:.2} |",
        added_p50 / ping.p50,
        added_p99 / ping.p99
    );
}
