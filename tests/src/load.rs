//! Closed-loop HTTP load for the benchmarks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use latchkey_sdk::salvo::conn::{Acceptor, Listener, TcpListener};
use latchkey_sdk::salvo::hyper::body::Bytes;
use latchkey_sdk::salvo::{
    Depot, FlowCtrl, Handler, Request, Response, Router, Server, async_trait,
};

/// Sends requests to `url` from `connections` keep-alive clients in a closed loop for
/// `length`, and returns how many got 200 or 304 and how long the round took.
///
/// # Panics
///
/// When an HTTP client cannot be built.
pub async fn measure(
    url: &str,
    if_none_match: Option<&str>,
    connections: usize,
    length: Duration,
) -> (u64, Duration) {
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("HTTP client");
        let url = url.to_owned();
        let if_none_match = if_none_match.map(str::to_owned);
        let answered = Arc::clone(&answered);
        let stop = Arc::clone(&stop);
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut request = client.get(&url);
                if let Some(etag) = &if_none_match {
                    request = request.header("if-none-match", etag);
                }
                let Ok(response) = request.send().await else {
                    continue;
                };
                let status = response.status().as_u16();
                if response.bytes().await.is_ok() && (status == 200 || status == 304) {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let _ = client.await;
    }
    (answered.load(Ordering::Relaxed), started.elapsed())
}

/// Writes a fixed JSON body, as the JWKS handler does, with nothing else around it.
struct FixedBody(Bytes);

#[async_trait]
impl Handler for FixedBody {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        res.headers_mut().insert(
            "content-type",
            latchkey_sdk::salvo::http::HeaderValue::from_static("application/json"),
        );
        res.body(self.0.clone());
    }
}

/// Serves `body` as JSON from a bare salvo handler on a free loopback port, the floor of
/// any route, and returns its URL.
///
/// # Panics
///
/// When the port cannot be bound.
pub async fn serve_fixed_body(body: Bytes) -> String {
    let acceptor = TcpListener::new("127.0.0.1:0").bind().await;
    let address = acceptor.holdings()[0]
        .local_addr
        .clone()
        .into_std()
        .expect("TCP address");
    let router = Router::with_path("bare").get(FixedBody(body));
    tokio::spawn(Server::new(acceptor).serve(router));
    format!("http://{address}/bare")
}
