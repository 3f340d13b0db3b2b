//! A plugin's hoop, limited to the paths under its prefix.

use std::sync::Arc;

use latchkey_sdk::Hoop;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

/// Runs a plugin's middleware on requests under its path prefix and passes the others on.
pub(crate) struct PrefixHoop {
    prefix: String,
    inner: Arc<dyn Handler>,
}

impl PrefixHoop {
    pub(crate) fn new(hoop: &Hoop) -> Self {
        Self {
            prefix: hoop.path_prefix().to_owned(),
            inner: hoop.handler(),
        }
    }

    fn applies_to(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix(self.prefix.trim_end_matches('/')) else {
            return false;
        };
        // `/api` covers `/api` and `/api/x`, not `/apix`.
        rest.is_empty() || rest.starts_with('/') || self.prefix.ends_with('/')
    }
}

#[async_trait]
impl Handler for PrefixHoop {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        if self.applies_to(req.uri().path()) {
            self.inner.handle(req, depot, res, ctrl).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    #[async_trait]
    impl Handler for Nothing {
        async fn handle(&self, _: &mut Request, _: &mut Depot, _: &mut Response, _: &mut FlowCtrl) {
        }
    }

    fn hoop(prefix: &str) -> PrefixHoop {
        PrefixHoop::new(&Hoop::new(prefix, Nothing))
    }

    #[test]
    fn prefix_matches_whole_segments() {
        let api = hoop("/api");
        assert!(api.applies_to("/api"));
        assert!(api.applies_to("/api/auth/login"));
        assert!(!api.applies_to("/apix"));
        assert!(!api.applies_to("/"));
    }

    #[test]
    fn root_prefix_matches_everything() {
        let all = hoop("/");
        assert!(all.applies_to("/"));
        assert!(all.applies_to("/.well-known/jwks.json"));
    }
}
