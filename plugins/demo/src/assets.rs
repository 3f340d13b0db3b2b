//! The page, its script and its style sheet, compiled in, and the routes that serve them.

use latchkey_sdk::salvo::http::HeaderValue;
use latchkey_sdk::salvo::http::header::CONTENT_TYPE;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// A file served with a fixed content type.
struct Asset {
    content_type: &'static str,
    body: &'static str,
}

#[async_trait]
impl Handler for Asset {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        res.body(self.body);
    }
}

/// Returns the routes of the page and its files.
pub(crate) fn routes() -> Router {
    let asset = |content_type, body| Asset { content_type, body };
    Router::new()
        .push(Router::new().get(asset("text/html; charset=utf-8", INDEX_HTML)))
        .push(Router::with_path("demo/app.js").get(asset("text/javascript; charset=utf-8", APP_JS)))
        .push(Router::with_path("demo/app.css").get(asset("text/css; charset=utf-8", APP_CSS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_has_no_inline_script_or_style() {
        assert!(INDEX_HTML.contains("<script src=\"/demo/app.js\""));
        assert!(!INDEX_HTML.contains("<script>"));
        assert!(!INDEX_HTML.contains("<style"));
        assert!(!INDEX_HTML.contains("style="));
        assert!(
            !INDEX_HTML.contains(" on"),
            "inline event handler in the page"
        );
    }

    #[test]
    fn script_uses_browser_json_helpers() {
        assert!(APP_JS.contains("parseCreationOptionsFromJSON"));
        assert!(APP_JS.contains("parseRequestOptionsFromJSON"));
        assert!(APP_JS.contains("credential.toJSON()"));
    }
}
