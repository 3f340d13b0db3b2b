//! The salvo handler that puts the configured headers on every response.

use latchkey_sdk::salvo::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, EXPIRES, PRAGMA};
use latchkey_sdk::salvo::http::{HeaderMap, HeaderName, HeaderValue};
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

use crate::config::{HeaderSet, Policy};
use crate::token_body::carries_token;

/// `Cache-Control` of a response that carries a token, when it lacks `no-store`.
const TOKEN_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("no-store");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The security-headers hoop: the configured headers on every response, a
/// Content-Security-Policy on HTML, and `no-store` on tokens.
#[must_use]
#[derive(Debug)]
pub struct SecurityHeaders {
    policy: Policy,
}

impl SecurityHeaders {
    pub(crate) fn new(policy: Policy) -> Self {
        Self { policy }
    }
}

#[async_trait]
impl Handler for SecurityHeaders {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let set = self.policy.for_path(req.uri().path());
        // Set before the inner hoops run, so that an early exit of theirs, and a panic
        // caught further out, still carries the headers.
        fill_missing(res.headers_mut(), set);

        ctrl.call_next(req, depot, res).await;

        let handler_cache_control = res
            .headers()
            .get(CACHE_CONTROL)
            .is_some_and(|value| Some(value) != set.get(&CACHE_CONTROL));
        if handler_cache_control {
            drop_own(res.headers_mut(), set, &PRAGMA);
            drop_own(res.headers_mut(), set, &EXPIRES);
        } else {
            fill_missing(res.headers_mut(), set);
        }
        if let Some(policy) = &set.content_security_policy
            && is_html(res)
        {
            res.headers_mut()
                .entry(CONTENT_SECURITY_POLICY)
                .or_insert_with(|| policy.clone());
        }
        if carries_token(res) {
            forbid_caching(res.headers_mut());
        }
    }
}

/// Inserts every header of `set` that `headers` lacks.
fn fill_missing(headers: &mut HeaderMap, set: &HeaderSet) {
    for (name, value) in &set.headers {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// Removes header `name` if it still has the value `set` gave it.
fn drop_own(headers: &mut HeaderMap, set: &HeaderSet, name: &HeaderName) {
    if set
        .get(name)
        .is_some_and(|own| headers.get(name) == Some(own))
    {
        headers.remove(name);
    }
}

/// Makes sure no cache stores the response: `Cache-Control` gets `no-store` unless it has
/// it, and `Pragma: no-cache` covers HTTP/1.0 caches.
fn forbid_caching(headers: &mut HeaderMap) {
    let has_no_store = headers.get_all(CACHE_CONTROL).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',')
                .any(|directive| directive.trim().eq_ignore_ascii_case("no-store"))
        })
    });
    if !has_no_store {
        headers.insert(CACHE_CONTROL, TOKEN_CACHE_CONTROL);
        headers.remove(EXPIRES);
    }
    headers.insert(PRAGMA, NO_CACHE);
}

fn is_html(res: &Response) -> bool {
    res.content_type()
        .is_some_and(|mime| mime.type_() == "text" && mime.subtype() == "html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_made_no_store() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        headers.insert(
            EXPIRES,
            HeaderValue::from_static("Wed, 21 Oct 2099 07:28:00 GMT"),
        );
        forbid_caching(&mut headers);
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert_eq!(headers[PRAGMA], "no-cache");
        assert!(!headers.contains_key(EXPIRES));
    }

    #[test]
    fn existing_no_store_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, No-Store"));
        forbid_caching(&mut headers);
        assert_eq!(headers[CACHE_CONTROL], "private, No-Store");
    }
}
