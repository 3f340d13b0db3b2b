//! Limiting a plugin's hoops to some paths, from config alone.

use std::borrow::Cow;

use latchkey_sdk::salvo::routing::decode_url_path;
use serde::Deserialize;

/// `plugins.<name>.scope`: the path prefixes a plugin's hoops run on.
///
/// ```toml
/// [plugins.rate_limit.scope]
/// only = ["/api"]
/// except = ["/api/auth/jwks.json"]
/// ```
///
/// A prefix matches whole path segments, compared the way salvo routes: percent-decoded,
/// with empty segments skipped. So `/api` covers `/api`, `/api/x` and `//%61pi/x`, not
/// `/apix`, and no spelling of a path that reaches a route escapes its scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoopScope {
    /// When not empty, the hoops run only under these prefixes.
    #[serde(default)]
    pub only: Vec<String>,
    /// The hoops never run under these prefixes, even inside `only`.
    #[serde(default)]
    pub except: Vec<String>,
}

impl HoopScope {
    /// Returns whether the scope leaves every path in.
    #[must_use]
    pub fn is_everything(&self) -> bool {
        self.only.is_empty() && self.except.is_empty()
    }

    /// Returns whether the hoops run on `path`, a request's raw URI path.
    #[must_use]
    pub fn covers(&self, path: &str) -> bool {
        self.covers_segments(&path_segments(path))
    }

    /// Returns whether the hoops run on a path split by [`path_segments`].
    pub(crate) fn covers_segments(&self, segments: &[Cow<'_, str>]) -> bool {
        let under = |prefix: &String| starts_with_segments(segments, prefix);
        (self.only.is_empty() || self.only.iter().any(under)) && !self.except.iter().any(under)
    }

    /// Returns the first prefix that is not an absolute path, with its key and the rule.
    pub(crate) fn invalid_prefix(&self) -> Option<(String, String)> {
        let lists = [("only", &self.only), ("except", &self.except)];
        lists.into_iter().find_map(|(key, prefixes)| {
            prefixes.iter().enumerate().find_map(|(index, prefix)| {
                let bad = !prefix.starts_with('/')
                    || prefix.contains(['?', '#'])
                    || prefix.chars().any(char::is_whitespace);
                bad.then(|| {
                    (
                        format!("scope.{key}[{index}]"),
                        format!(
                            "{prefix:?} is not a path prefix: use an absolute path without \
                             query or fragment, like \"/api\""
                        ),
                    )
                })
            })
        })
    }
}

/// Splits `path` into its segments as salvo's router sees them.
pub(crate) fn path_segments(path: &str) -> Vec<Cow<'_, str>> {
    path.split('/')
        .filter(|segment| !segment.is_empty())
        .map(decode_url_path)
        .collect()
}

/// Returns whether `segments` begin with the segments of `prefix`.
pub(crate) fn starts_with_segments(segments: &[Cow<'_, str>], prefix: &str) -> bool {
    let wanted = path_segments(prefix);
    wanted.len() <= segments.len() && wanted.iter().zip(segments).all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(only: &[&str], except: &[&str]) -> HoopScope {
        HoopScope {
            only: only.iter().map(|&p| p.to_owned()).collect(),
            except: except.iter().map(|&p| p.to_owned()).collect(),
        }
    }

    #[test]
    fn empty_scope_covers_everything() {
        let all = HoopScope::default();
        assert!(all.is_everything());
        assert!(all.covers("/"));
        assert!(all.covers("/api/auth/login"));
    }

    #[test]
    fn only_matches_whole_segments() {
        let api = scope(&["/api"], &[]);
        assert!(api.covers("/api"));
        assert!(api.covers("/api/auth"));
        assert!(!api.covers("/apix"));
        assert!(!api.covers("/"));
        assert!(!api.covers("/.well-known/jwks.json"));
    }

    #[test]
    fn except_wins_inside_only() {
        let api = scope(&["/api"], &["/api/auth/jwks.json"]);
        assert!(api.covers("/api/auth/login"));
        assert!(!api.covers("/api/auth/jwks.json"));
        let not_demo = scope(&[], &["/demo"]);
        assert!(not_demo.covers("/api"));
        assert!(!not_demo.covers("/demo/app.js"));
    }

    #[test]
    fn route_spellings_do_not_escape() {
        let api = scope(&[], &["/api/auth"]);
        assert!(!api.covers("//api//auth/login"));
        assert!(!api.covers("/%61pi/auth/login"));
        assert!(!api.covers("/api/auth/"));
        let only = scope(&["/api/"], &[]);
        assert!(only.covers("/%61pi/x"));
    }

    #[test]
    fn relative_or_query_prefix_named() {
        let (key, message) = scope(&["/api"], &["api/x"]).invalid_prefix().expect("bad");
        assert_eq!(key, "scope.except[0]");
        assert!(message.contains("\"api/x\""), "{message}");
        assert!(scope(&["/a?b"], &[]).invalid_prefix().is_some());
        assert!(scope(&["/api", "/"], &["/x"]).invalid_prefix().is_none());
    }
}
