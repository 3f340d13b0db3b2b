//! JWKS responses per second, next to a bare salvo handler measured in the same run.
//!
//! Three servers run in this process on one 2-worker runtime, and a closed loop of
//! `CONNECTIONS` keep-alive clients sends requests to one of them for `ROUND` at a time,
//! the cases alternating round by round:
//!
//! - `bare_salvo`: a salvo `Server` and `Router` with one handler that writes a fixed
//!   JSON body of the JWKS's size, the floor of any route;
//! - `jwks_full_host`: `GET /.well-known/jwks.json` on a host with every default plugin
//!   (request ID, security headers, CORS, rate limit with a limit never reached, memory
//!   store);
//! - `jwks_304`: the same with `If-None-Match` of the current `ETag`, which gets 304.
//!
//! Run with `cargo bench -p latchkey-tests --bench jwks_throughput`.

use std::time::Duration;

use latchkey_tests::load::{measure, serve_fixed_body};
use latchkey_tests::{Backend, TestHost};

/// Concurrent keep-alive clients.
const CONNECTIONS: usize = 16;

/// Length of one measured round of one case.
const ROUND: Duration = Duration::from_secs(3);

/// Rounds per case, alternating between the cases.
const ROUNDS: usize = 4;

const JWKS: &str = "/.well-known/jwks.json";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let host = TestHost::start_with(
        &Backend::Memory,
        "[[plugins.rate_limit.rules]]\nname = \"global\"\npath_prefix = \"/\"\n\
         limit = 1000000000\nwindow = 3600\n",
    )
    .await;
    let jwks_url = host.url(JWKS);
    let response = reqwest::get(&jwks_url).await.expect("JWKS fetched");
    let etag = response.headers()["etag"]
        .to_str()
        .expect("ETag is text")
        .to_owned();
    let body = response.bytes().await.expect("JWKS body");
    let bare_url = serve_fixed_body(body.clone()).await;

    let cases: [(&str, &str, Option<&str>); 3] = [
        ("bare_salvo", &bare_url, None),
        ("jwks_full_host", &jwks_url, None),
        ("jwks_304", &jwks_url, Some(&etag)),
    ];
    for (_, url, if_none_match) in cases {
        measure(url, if_none_match, CONNECTIONS, Duration::from_millis(500)).await;
    }
    let mut totals = [(0_u64, Duration::ZERO); 3];
    for _ in 0..ROUNDS {
        for (index, (_, url, if_none_match)) in cases.iter().enumerate() {
            let (count, elapsed) = measure(url, *if_none_match, CONNECTIONS, ROUND).await;
            totals[index].0 += count;
            totals[index].1 += elapsed;
        }
    }

    println!(
        "JWKS body: {} bytes; {CONNECTIONS} connections; {ROUNDS} rounds of {ROUND:?} per case",
        body.len()
    );
    let floor = totals[0].0 as f64 / totals[0].1.as_secs_f64();
    println!(
        "{:<16} {:>12} {:>16}",
        "case", "requests/s", "ratio to floor"
    );
    for (index, (name, _, _)) in cases.iter().enumerate() {
        let rate = totals[index].0 as f64 / totals[index].1.as_secs_f64();
        println!("{name:<16} {rate:>12.0} {:>16.2}", rate / floor);
    }
    host.stop().await;
}
