//! A plugin's hoop, limited to the paths under its prefix and inside its plugin's scope.

use std::sync::Arc;

use latchkey_sdk::Hoop;

use crate::plugins::HoopScope;
use crate::plugins::scope::{path_segments, starts_with_segments};
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

/// Runs a plugin's middleware on requests under its path prefix and inside the scope that
/// config gives the plugin, and passes the others on.
pub(crate) struct PrefixHoop {
    prefix: String,
    scope: Arc<HoopScope>,
    inner: Arc<dyn Handler>,
}

impl PrefixHoop {
    pub(crate) fn new(hoop: &Hoop, scope: Arc<HoopScope>) -> Self {
        Self {
            prefix: hoop.path_prefix().to_owned(),
            scope,
            inner: hoop.handler(),
        }
    }

    /// Compares whole segments the way salvo routes, so `/api` covers `/api/x` and
    /// `//%61pi/x`, not `/apix`.
    fn applies_to(&self, path: &str) -> bool {
        let segments = path_segments(path);
        starts_with_segments(&segments, &self.prefix) && self.scope.covers_segments(&segments)
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
        PrefixHoop::new(&Hoop::new(prefix, Nothing), Arc::default())
    }

    #[test]
    fn prefix_matches_whole_segments() {
        let api = hoop("/api");
        assert!(api.applies_to("/api"));
        assert!(api.applies_to("/api/auth/login"));
        assert!(!api.applies_to("/apix"));
        assert!(!api.applies_to("/"));
        assert!(api.applies_to("//%61pi/auth"));
    }

    #[test]
    fn scope_narrows_the_prefix() {
        let scope = HoopScope {
            only: vec!["/api".to_owned()],
            except: vec!["/api/auth".to_owned()],
        };
        let hoop = PrefixHoop::new(&Hoop::new("/", Nothing), Arc::new(scope));
        assert!(hoop.applies_to("/api/me"));
        assert!(!hoop.applies_to("/api/auth/login"));
        assert!(!hoop.applies_to("/"));
    }

    #[test]
    fn root_prefix_matches_everything() {
        let all = hoop("/");
        assert!(all.applies_to("/"));
        assert!(all.applies_to("/.well-known/jwks.json"));
    }
}
