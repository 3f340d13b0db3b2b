//! The Apple app site association, which lets an iOS app use this server's passkeys.

use latchkey_sdk::ApiError;
use latchkey_sdk::salvo::writing::Json;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use serde_json::{Value, json};

use crate::error::PasskeyError;

/// Returns the association document for `app_id`: universal links on every path, and
/// web credentials.
fn document(app_id: &str) -> Value {
    json!({
        "applinks": {
            "apps": [],
            "details": [{"appID": app_id, "paths": ["*"]}],
        },
        "webcredentials": {"apps": [app_id]},
    })
}

/// `GET /.well-known/apple-app-site-association`: the document for `apple_app_id`, or 404
/// when it is not set.
pub(crate) struct AppSiteAssociation {
    document: Option<Value>,
}

impl AppSiteAssociation {
    /// Creates the handler, building the document once.
    pub(crate) fn new(app_id: Option<&str>) -> Self {
        Self {
            document: app_id.map(document),
        }
    }
}

#[async_trait]
impl Handler for AppSiteAssociation {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        match &self.document {
            Some(document) => res.render(Json(document.clone())),
            None => res.render(ApiError::from(PasskeyError::AppleAppIdNotConfigured)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_app_id_twice() {
        assert_eq!(
            document("ABCDE12345.com.example.app"),
            json!({
                "applinks": {
                    "apps": [],
                    "details": [{"appID": "ABCDE12345.com.example.app", "paths": ["*"]}]
                },
                "webcredentials": {"apps": ["ABCDE12345.com.example.app"]}
            })
        );
    }

    #[test]
    fn unset_app_id_has_no_document() {
        assert!(AppSiteAssociation::new(None).document.is_none());
    }
}
