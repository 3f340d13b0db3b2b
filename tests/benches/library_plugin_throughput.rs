//! Requests per second through a plugin loaded from a shared library, next to the same
//! plugin compiled in, measured in the same run.
//!
//! Both hosts are release builds made by this benchmark, into `target/dynamic-plugins`.
//! Two `latchkey` processes run side by side on the same config, with every default
//! plugin, the memory store and a rate limit that is never reached. One is the stock
//! binary with the example greeter loaded through `[[dynamic_plugins]]`, the other the
//! example `greeter_host`, the same host with the greeter compiled in. A closed loop of
//! `CONNECTIONS` keep-alive clients in this process sends `GET /api/greeter/ticks` (the
//! greeter's hoop, then its handler reading one store key) to one of them for `ROUND` at a
//! time, the cases alternating round by round. A bare salvo handler in this process
//! serving the same body is the floor of any route.
//!
//! The library case pays for the boundary on every call into the plugin: the host's
//! runtime entered, a span opened and `catch_unwind` on each poll of the hoop and the
//! handler.
//!
//! Run with `cargo bench -p latchkey-tests --bench library_plugin_throughput`.

use std::time::Duration;

use latchkey_tests::load::{measure, serve_fixed_body};
use latchkey_tests::process::{Process, Profile, build_libraries, greeter_host_build};

/// Concurrent keep-alive clients.
const CONNECTIONS: usize = 16;

/// Length of one measured round of one case.
const ROUND: Duration = Duration::from_secs(3);

/// Rounds per case, alternating between the cases.
const ROUNDS: usize = 4;

const TICKS: &str = "/api/greeter/ticks";

/// The config both hosts share: a free port and a rate limit that is never reached.
const HOST_CONFIG: &str = "[server]\nlisten = \"127.0.0.1:0\"\n\n\
    [[plugins.rate_limit.rules]]\nname = \"global\"\npath_prefix = \"/\"\n\
    limit = 1000000000\nwindow = 3600\n";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let build = build_libraries(Profile::Release);
    let greeter_host = greeter_host_build(Profile::Release);
    let library = build.library("latchkey-example-greeter");
    let loaded = Process::start(
        &build.binary,
        "bench-library",
        &format!("{HOST_CONFIG}\n[[dynamic_plugins]]\npath = {library:?}\n"),
    )
    .await;
    let compiled_in = Process::start(&greeter_host, "bench-compiled-in", HOST_CONFIG).await;

    let body = loaded.get(TICKS).await.bytes().await.expect("ticks body");
    let bare_url = serve_fixed_body(body.clone()).await;
    let loaded_url = format!("{}{TICKS}", loaded.url);
    let compiled_in_url = format!("{}{TICKS}", compiled_in.url);

    let cases: [(&str, &str); 3] = [
        ("bare_salvo", &bare_url),
        ("compiled_in", &compiled_in_url),
        ("library", &loaded_url),
    ];
    for (_, url) in cases {
        measure(url, None, CONNECTIONS, Duration::from_millis(500)).await;
    }
    let mut totals = [(0_u64, Duration::ZERO); 3];
    for _ in 0..ROUNDS {
        for (index, (_, url)) in cases.iter().enumerate() {
            let (count, elapsed) = measure(url, None, CONNECTIONS, ROUND).await;
            totals[index].0 += count;
            totals[index].1 += elapsed;
        }
    }

    println!(
        "GET {TICKS}, {} bytes; {CONNECTIONS} connections; {ROUNDS} rounds of {ROUND:?} per case",
        body.len()
    );
    let rate = |index: usize| totals[index].0 as f64 / totals[index].1.as_secs_f64();
    println!(
        "{:<12} {:>12} {:>16} {:>20}",
        "case", "requests/s", "ratio to floor", "ratio to compiled_in"
    );
    for (index, (name, _)) in cases.iter().enumerate() {
        println!(
            "{name:<12} {:>12.0} {:>16.2} {:>20.2}",
            rate(index),
            rate(index) / rate(0),
            rate(index) / rate(1)
        );
    }
    let kib = |process: &Process| {
        process
            .resident_kib()
            .map_or_else(|| "unknown".to_owned(), |kib| format!("{kib} KiB"))
    };
    println!(
        "resident set after the run: compiled_in {}, library {}",
        kib(&compiled_in),
        kib(&loaded)
    );
    loaded.stop().await;
    compiled_in.stop().await;
}
