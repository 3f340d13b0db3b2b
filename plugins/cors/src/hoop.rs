//! The salvo handler that grants allowed origins and responds to preflights.

use std::sync::Arc;

use latchkey_sdk::salvo::http::header::{
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use latchkey_sdk::salvo::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use salvo_cors::{AllowOrigin, CallNext, Cors as SalvoCors, CorsHandler};

use crate::config::CorsPolicy;

/// The CORS hoop: grants the allowed origins, responds to preflights with 204 before any
/// inner hoop runs, and marks every response `Vary: Origin`.
#[must_use]
pub struct Cors {
    policy: Arc<CorsPolicy>,
    /// Writes the `Access-Control-*` headers of a request this hoop has granted.
    grant: CorsHandler,
}

impl std::fmt::Debug for Cors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cors")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Cors {
    pub(crate) fn new(policy: CorsPolicy) -> Self {
        let policy = Arc::new(policy);
        let matcher = Arc::clone(&policy);
        // The hoop checks the origin before it calls `grant`; salvo-cors checks it again,
        // so that the handler never mirrors an origin on its own.
        let allow_origin = AllowOrigin::dynamic(move |origin, _, _| {
            origin
                .filter(|value| value.to_str().is_ok_and(|text| matcher.allows_origin(text)))
                .cloned()
        });
        let cors = SalvoCors::new()
            .allow_origin(allow_origin)
            .allow_methods(policy.methods.clone())
            .allow_headers(policy.headers.clone())
            .expose_headers(policy.exposed_headers.clone())
            .allow_credentials(policy.allow_credentials)
            .max_age(policy.max_age);
        Self {
            grant: CorsHandler::new(cors, CallNext::After),
            policy,
        }
    }

    /// Returns the request's origin if the policy allows it.
    fn allowed_origin<'a>(&self, req: &'a Request) -> Option<&'a str> {
        let origin = req.headers().get(ORIGIN)?.to_str().ok()?;
        self.policy.allows_origin(origin).then_some(origin)
    }

    /// Returns why a preflight may not proceed, or `None` when every method and header it
    /// asks for is allowed.
    fn preflight_refusal(&self, req: &Request) -> Option<&'static str> {
        let headers = req.headers();
        let method = headers
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|value| Method::from_bytes(value.as_bytes()).ok());
        if !method.is_some_and(|method| self.policy.methods.contains(&method)) {
            return Some("method not allowed");
        }
        for value in headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
            let Ok(text) = value.to_str() else {
                return Some("header list not ASCII");
            };
            let names = text
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty());
            for name in names {
                let allowed = HeaderName::from_bytes(name.as_bytes())
                    .is_ok_and(|name| self.policy.headers.contains(&name));
                if !allowed {
                    return Some("header not allowed");
                }
            }
        }
        None
    }

    /// Writes the grant headers for an allowed origin, leaving the status as it was.
    async fn write_grant(&self, req: &mut Request, depot: &mut Depot, res: &mut Response) {
        let status = res.status_code;
        // An empty chain: the hoop itself decides whether the request goes on.
        let mut no_next = FlowCtrl::new(Vec::new());
        self.grant.handle(req, depot, res, &mut no_next).await;
        res.status_code = status;
    }
}

/// Returns whether `req` is a CORS preflight (Fetch standard, "CORS-preflight request"):
/// `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(req: &Request) -> bool {
    let headers = req.headers();
    req.method() == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

#[async_trait]
impl Handler for Cors {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let allowed = self.allowed_origin(req).is_some();

        if is_preflight(req) {
            let refusal = if allowed {
                self.preflight_refusal(req)
            } else {
                Some("origin not allowed")
            };
            match refusal {
                None => self.write_grant(req, depot, res).await,
                Some(reason) => tracing::debug!(reason, "CORS preflight rejected"),
            }
            add_vary(
                res.headers_mut(),
                &[
                    ORIGIN,
                    ACCESS_CONTROL_REQUEST_METHOD,
                    ACCESS_CONTROL_REQUEST_HEADERS,
                ],
            );
            // A refused preflight gets 204 too, but without any grant, so the browser
            // blocks the request it was asking for.
            res.status_code = Some(StatusCode::NO_CONTENT);
            ctrl.skip_rest();
            return;
        }

        if allowed {
            self.write_grant(req, depot, res).await;
        }
        // Every response depends on `Origin`, because only allowed origins get a grant.
        add_vary(res.headers_mut(), &[ORIGIN]);
        ctrl.call_next(req, depot, res).await;
        add_vary(res.headers_mut(), &[ORIGIN]);
    }
}

/// Adds `names` to the response's `Vary`, keeping the names already listed, as one value.
fn add_vary(headers: &mut HeaderMap, names: &[HeaderName]) {
    let mut listed: Vec<String> = Vec::new();
    for value in headers.get_all(VARY) {
        let Ok(text) = value.to_str() else { continue };
        for name in text
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            if !listed.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
                listed.push(name.to_owned());
            }
        }
    }
    if listed.iter().any(|name| name == "*") {
        return;
    }
    for name in names {
        if !listed
            .iter()
            .any(|seen| seen.eq_ignore_ascii_case(name.as_str()))
        {
            listed.push(name.as_str().to_owned());
        }
    }
    if let Ok(value) = HeaderValue::from_str(&listed.join(", ")) {
        headers.insert(VARY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_merged_once() {
        let mut headers = HeaderMap::new();
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding, origin"));
        add_vary(&mut headers, &[ORIGIN, ACCESS_CONTROL_REQUEST_METHOD]);
        assert_eq!(
            headers[VARY],
            "Accept-Encoding, origin, access-control-request-method"
        );
        assert_eq!(headers.get_all(VARY).iter().count(), 1);
    }

    #[test]
    fn vary_star_left_alone() {
        let mut headers = HeaderMap::new();
        headers.insert(VARY, HeaderValue::from_static("*"));
        add_vary(&mut headers, &[ORIGIN]);
        assert_eq!(headers[VARY], "*");
    }
}
