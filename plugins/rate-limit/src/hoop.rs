//! The salvo handler that counts each request against the matching rules and rejects
//! it with 429 once its client is over a limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use latchkey_sdk::capability::{Store, StoreError};
use latchkey_sdk::salvo::http::header::{ACCESS_CONTROL_REQUEST_METHOD, HeaderName};
use latchkey_sdk::salvo::http::{HeaderValue, Method};
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use latchkey_sdk::{Guard, error_chain};

use crate::client_key::ClientResolver;
use crate::config::{KeyKind, OnStoreError, Policy, Rule, routed_path};
use crate::error::Rejection;
use crate::window::{Window, counter_key};

/// Shortest time between two log lines about store failures of one rule.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The rate-limit hoop: counts every request that matches a rule, in the store.
#[must_use]
pub struct RateLimit {
    store: Arc<dyn Store>,
    rules: Vec<RuleState>,
    resolver: ClientResolver,
    ietf_headers: bool,
    store_failures: AtomicU64,
    /// Verifies the Bearer token of requests that rules keyed on `sub` count.
    guard: Option<Guard>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("rules", &self.rules.len())
            .field("store_failures", &self.store_failures())
            .finish_non_exhaustive()
    }
}

struct RuleState {
    rule: Rule,
    failure_log: FailureLog,
}

/// The count of one rule after a request, for its headers.
#[derive(Debug, Clone, Copy)]
struct Count<'a> {
    rule: &'a Rule,
    remaining: u32,
    reset: u64,
    exceeded: bool,
}

impl RateLimit {
    /// Creates the hoop for `policy`, counting in `store`.
    pub(crate) fn new(policy: Policy, store: Arc<dyn Store>, guard: Option<Guard>) -> Self {
        let rules = policy
            .rules
            .into_iter()
            .map(|rule| RuleState {
                rule,
                failure_log: FailureLog::default(),
            })
            .collect();
        Self {
            store,
            rules,
            resolver: policy.resolver,
            ietf_headers: policy.ietf_headers,
            store_failures: AtomicU64::new(0),
            guard,
        }
    }

    /// Returns how many store operations have failed since start, over every rule.
    pub fn store_failures(&self) -> u64 {
        self.store_failures.load(Ordering::Relaxed)
    }

    /// Counts the request against every matching rule, in order. Returns the counts, or
    /// the rejection of a rule whose store operation failed with `on_store_error = deny`.
    async fn count(&self, req: &Request, depot: &mut Depot) -> Result<Vec<Count<'_>>, Rejection> {
        let method = req.method();
        // Every spelling of a path that reaches one route counts as that one path.
        let routed = routed_path(req.uri().path());
        let path = routed.as_str();
        let mut matching = Vec::new();
        for state in &self.rules {
            if state.rule.matches(method, path) {
                matching.push(state);
            }
        }
        if matching.is_empty() {
            return Ok(Vec::new());
        }

        let peer = req.remote_addr().clone().into_std();
        let client = self.resolver.client_key(peer, req.headers());
        let subject = match &self.guard {
            Some(guard)
                if matching
                    .iter()
                    .any(|state| state.rule.key == KeyKind::Subject) =>
            {
                // The guard keeps the verified token in the depot, so the route's own guard
                // does not verify it again. A request without a valid token is counted by
                // address, and the route's guard rejects it if the route is protected.
                guard
                    .authenticate(req, depot)
                    .await
                    .ok()
                    .map(|token| format!("sub:{}", token.subject))
            }
            _ => None,
        };
        let now = SystemTime::now();
        let mut counts = Vec::new();
        for state in matching {
            let rule = &state.rule;
            let window = Window::at(now, rule.window);
            let scoped_path = (rule.key == KeyKind::IpPath).then_some(path);
            let client = match (&rule.key, &subject) {
                (KeyKind::Subject, Some(subject)) => subject,
                _ => &client,
            };
            let key = counter_key(&rule.name, client, scoped_path, window.index);
            match self
                .store
                .increment(&key, i64::from(rule.cost), window.ttl)
                .await
            {
                Ok(count) => {
                    let limit = i64::from(rule.limit);
                    let remaining = u32::try_from((limit - count).max(0)).unwrap_or(0);
                    counts.push(Count {
                        rule,
                        remaining,
                        reset: window.reset_seconds(),
                        exceeded: count > limit,
                    });
                }
                Err(error) => {
                    let total = self.store_failures.fetch_add(1, Ordering::Relaxed) + 1;
                    state.failure_log.record(rule, &error, total);
                    if rule.on_store_error == OnStoreError::Deny {
                        return Err(Rejection::StoreUnavailable);
                    }
                }
            }
        }
        Ok(counts)
    }

    fn set_headers(&self, res: &mut Response, count: &Count<'_>) {
        let headers = res.headers_mut();
        headers.insert(
            HeaderName::from_static("x-ratelimit-limit"),
            count.rule.limit.into(),
        );
        headers.insert(
            HeaderName::from_static("x-ratelimit-remaining"),
            count.remaining.into(),
        );
        headers.insert(
            HeaderName::from_static("x-ratelimit-reset"),
            count.reset.into(),
        );
        if self.ietf_headers {
            let name = &count.rule.name;
            let policy = format!(
                "\"{name}\";q={};w={}",
                count.rule.limit,
                count.rule.window.as_secs()
            );
            let state = format!("\"{name}\";r={};t={}", count.remaining, count.reset);
            // Rule names are ASCII letters, digits, '_' and '-', so both values are valid.
            if let (Ok(policy), Ok(state)) = (
                HeaderValue::from_str(&policy),
                HeaderValue::from_str(&state),
            ) {
                headers.insert(HeaderName::from_static("ratelimit-policy"), policy);
                headers.insert(HeaderName::from_static("ratelimit"), state);
            }
        }
    }
}

/// Returns the count whose headers a response carries. Among exceeded rules, the one that
/// resets last, since the client must wait for it. Otherwise the one with the fewest
/// requests left, and of those the one that resets last.
fn most_restrictive<'a, 'b>(counts: &'b [Count<'a>]) -> Option<&'b Count<'a>> {
    let exceeded = counts
        .iter()
        .filter(|count| count.exceeded)
        .max_by_key(|count| count.reset);
    exceeded.or_else(|| {
        counts
            .iter()
            .min_by(|a, b| a.remaining.cmp(&b.remaining).then(b.reset.cmp(&a.reset)))
    })
}

/// Returns whether `req` is a CORS preflight, which is not counted.
fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

#[async_trait]
impl Handler for RateLimit {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        if is_preflight(req) {
            return;
        }
        let counts = match self.count(req, depot).await {
            Ok(counts) => counts,
            Err(rejection) => {
                res.render(rejection);
                ctrl.skip_rest();
                return;
            }
        };
        let Some(shown) = most_restrictive(&counts) else {
            return;
        };
        self.set_headers(res, shown);
        if shown.exceeded {
            tracing::debug!(rule = %shown.rule.name, "rate limit exceeded");
            res.render(Rejection::Limited {
                limit: shown.rule.limit,
                window_seconds: shown.rule.window.as_secs(),
                retry_after: shown.reset,
            });
            ctrl.skip_rest();
            return;
        }
        ctrl.call_next(req, depot, res).await;
        // The inner handlers may have replaced headers, so set them again.
        self.set_headers(res, shown);
    }
}

/// Logs store failures of one rule at most once per [`FAILURE_LOG_INTERVAL`], with the
/// number of failures left out since the last line.
#[derive(Default)]
struct FailureLog {
    last_logged: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl FailureLog {
    fn record(&self, rule: &Rule, error: &StoreError, total: u64) {
        let now = Instant::now();
        {
            let mut last = self
                .last_logged
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = last.is_none_or(|at| now.duration_since(at) >= FAILURE_LOG_INTERVAL);
            if !due {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *last = Some(now);
        }
        let action = match rule.on_store_error {
            OnStoreError::Allow => "allowed",
            OnStoreError::Deny => "denied",
        };
        tracing::warn!(
            rule = %rule.name,
            error = %error_chain(error),
            request = action,
            suppressed = self.suppressed.swap(0, Ordering::Relaxed),
            store_failures_total = total,
            "rate limit counter could not be updated in the store"
        );
    }

    #[cfg(test)]
    fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, limit: u32) -> Rule {
        Rule {
            name: name.to_owned(),
            path_prefix: "/".to_owned(),
            methods: Vec::new(),
            limit,
            window: Duration::from_secs(60),
            key: KeyKind::Ip,
            cost: 1,
            on_store_error: OnStoreError::Allow,
        }
    }

    fn count(rule: &Rule, remaining: u32, reset: u64, exceeded: bool) -> Count<'_> {
        Count {
            rule,
            remaining,
            reset,
            exceeded,
        }
    }

    #[test]
    fn fewest_remaining_shown() {
        let (global, auth) = (rule("global", 100), rule("auth", 5));
        let counts = [count(&global, 90, 600, false), count(&auth, 2, 3000, false)];
        assert_eq!(most_restrictive(&counts).unwrap().rule.name, "auth");
        let counts = [count(&global, 2, 600, false), count(&auth, 2, 3000, false)];
        assert_eq!(most_restrictive(&counts).unwrap().rule.name, "auth");
        assert!(most_restrictive(&[]).is_none());
    }

    #[test]
    fn exceeded_rule_resetting_last_shown() {
        let (a, b, c) = (rule("a", 1), rule("b", 1), rule("c", 1));
        let counts = [
            count(&a, 0, 10, true),
            count(&b, 0, 50, true),
            count(&c, 0, 99, false),
        ];
        assert_eq!(most_restrictive(&counts).unwrap().rule.name, "b");
    }

    #[test]
    fn failure_log_suppresses_repeats() {
        let log = FailureLog::default();
        let rule = rule("global", 1);
        let error = StoreError::Unavailable("connection refused".into());
        for total in 1..=5 {
            log.record(&rule, &error, total);
        }
        assert_eq!(log.suppressed(), 4);
    }
}
