//! The greeter's handlers and hoop.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_sdk::ApiError;
use latchkey_sdk::capability::Store;
use latchkey_sdk::salvo::http::{HeaderValue, StatusCode};
use latchkey_sdk::salvo::writing::Json;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use serde::Serialize;

use crate::plugin::{COUNTER_TTL, LAST_VISIT_KEY, TICKS_KEY, VISITS_KEY, subject};

/// The configured greeting, already checked to be a valid header value.
#[derive(Debug, Clone)]
pub(crate) struct Greeting(Arc<str>);

impl Greeting {
    pub(crate) fn new(text: &str) -> Self {
        Self(Arc::from(text))
    }
}

impl fmt::Display for Greeting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Serialize)]
struct HelloBody<'a> {
    greeting: &'a str,
    visits: i64,
}

/// `GET /api/greeter/hello`: counts the visit in the store.
pub(crate) struct Hello {
    pub(crate) greeting: Greeting,
    pub(crate) store: Arc<dyn Store>,
}

#[async_trait]
impl Handler for Hello {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        match self.store.increment(VISITS_KEY, 1, COUNTER_TTL).await {
            Ok(visits) => {
                latchkey_sdk::spawn(record_last_visit(Arc::clone(&self.store)));
                res.render(Json(HelloBody {
                    greeting: &self.greeting.0,
                    visits,
                }));
            }
            Err(error) => {
                tracing::warn!(%error, "visit not counted");
                res.render(ApiError::store_unavailable(&error));
            }
        }
    }
}

/// Writes the time of the latest visit, off the request's path and within a second.
async fn record_last_visit(store: Arc<dyn Store>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .to_string();
    let write = store.set(LAST_VISIT_KEY, now.as_bytes(), Some(COUNTER_TTL));
    match tokio::time::timeout(Duration::from_secs(1), write).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "last visit not recorded"),
        Err(_) => tracing::warn!("last visit not recorded in time"),
    }
}

#[derive(Serialize)]
struct MeBody<'a> {
    greeting: &'a str,
    sub: String,
}

/// `GET /api/greeter/me`, behind the SDK's guard: greets the token's subject.
pub(crate) struct Me(pub(crate) Greeting);

#[async_trait]
impl Handler for Me {
    async fn handle(
        &self,
        _: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        // The guard in front of this handler responded with 401 unless a token was verified.
        match subject(depot) {
            Some(sub) => res.render(Json(MeBody {
                greeting: &self.0.0,
                sub,
            })),
            None => res.render(ApiError::internal()),
        }
    }
}

#[derive(Serialize)]
struct TicksBody {
    ticks: i64,
}

/// `GET /api/greeter/ticks`: how often the background task has run.
pub(crate) struct Ticks(pub(crate) Arc<dyn Store>);

#[async_trait]
impl Handler for Ticks {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        match self.0.get(TICKS_KEY).await {
            Ok(value) => {
                let ticks = value
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .and_then(|text| text.parse().ok())
                    .unwrap_or(0);
                res.render(Json(TicksBody { ticks }));
            }
            Err(error) => res.render(ApiError::store_unavailable(&error)),
        }
    }
}

/// `GET /api/greeter/panic`: panics, to show that the host contains it. With `?in=task`
/// it returns 202 and the task it spawns panics instead.
pub(crate) struct Panic;

#[async_trait]
impl Handler for Panic {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        if req.query::<String>("in").as_deref() == Some("task") {
            latchkey_sdk::spawn(async { panic!("greeter spawned task panicked") });
            res.status_code(StatusCode::ACCEPTED);
            res.render(Json(SpawnedBody { spawned: true }));
            return;
        }
        panic!("greeter panic route called");
    }
}

#[derive(Serialize)]
struct SpawnedBody {
    spawned: bool,
}

/// Puts `x-greeter` on every response that passes back through it.
pub(crate) struct Header(pub(crate) Greeting);

#[async_trait]
impl Handler for Header {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        ctrl.call_next(req, depot, res).await;
        // Checked at configure time, so this conversion only fails if that check breaks.
        if let Ok(value) = HeaderValue::from_str(&self.0.0) {
            res.headers_mut().insert("x-greeter", value);
        }
    }
}
