//! Whether a response body hands out a token, so that it must never be cached.

use std::collections::HashMap;

use latchkey_sdk::salvo::Response;
use latchkey_sdk::salvo::http::ResBody;
use serde::de::IgnoredAny;

/// Members of a JSON object that carry a token: Latchkey's own `token` and the OAuth 2.0
/// names of RFC 6749 section 5.1 and OpenID Connect.
const TOKEN_MEMBERS: [&str; 4] = ["token", "access_token", "id_token", "refresh_token"];

/// Largest body inspected, in bytes. Token responses are a few kilobytes.
const MAX_INSPECTED: usize = 64 * 1024;

/// Returns whether `res` has a JSON object body with a token member.
///
/// Only buffered bodies are read; a streamed body is not, so it counts as carrying none.
pub(crate) fn carries_token(res: &Response) -> bool {
    let is_json = res.content_type().is_some_and(|mime| {
        mime.subtype() == "json" || mime.suffix().is_some_and(|suffix| suffix == "json")
    });
    if !is_json {
        return false;
    }
    match &res.body {
        ResBody::Once(bytes) => has_token_member(bytes),
        ResBody::Chunks(chunks) => {
            let total: usize = chunks.iter().map(|chunk| chunk.len()).sum();
            if total > MAX_INSPECTED {
                return false;
            }
            let joined: Vec<u8> = chunks
                .iter()
                .flat_map(|chunk| chunk.iter().copied())
                .collect();
            has_token_member(&joined)
        }
        // NOTE: a streamed token body keeps whatever Cache-Control its handler set.
        _ => false,
    }
}

fn has_token_member(body: &[u8]) -> bool {
    if body.len() > MAX_INSPECTED {
        return false;
    }
    let Ok(members) = serde_json::from_slice::<HashMap<String, IgnoredAny>>(body) else {
        return false;
    };
    TOKEN_MEMBERS.iter().any(|name| members.contains_key(*name))
}

#[cfg(test)]
mod tests {
    use latchkey_sdk::salvo::writing::{Json, Text};
    use serde_json::json;

    use super::*;

    fn json_response(body: &serde_json::Value) -> Response {
        let mut res = Response::new();
        res.render(Json(body));
        res
    }

    #[test]
    fn token_member_detected() {
        let res = json_response(&json!({"success": true, "token": "a.b.c", "userID": "u"}));
        assert!(carries_token(&res));
        assert!(carries_token(&json_response(&json!({"access_token": "x"}))));
    }

    #[test]
    fn other_json_not_token() {
        assert!(!carries_token(&json_response(&json!({"keys": []}))));
        assert!(!carries_token(&json_response(&json!(["token"]))));
        assert!(!carries_token(&json_response(
            &json!({"nested": {"token": "x"}})
        )));
    }

    #[test]
    fn text_body_not_inspected() {
        let mut res = Response::new();
        res.render(Text::Plain("{\"token\": \"x\"}"));
        assert!(!carries_token(&res));
    }
}
