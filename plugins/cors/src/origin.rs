//! The allow-list of origins: exact origins, subdomain patterns, and `null` on request.
//!
//! A browser sends `Origin` as the ASCII serialization of the page's origin (the WHATWG
//! HTML standard, "serialization of an origin"): lowercase scheme and host, no default
//! port, no path. Entries are stored in that form, and a request's `Origin` must equal
//! one byte for byte, so `https://Auth.privy.io`, `https://auth.privy.io.` and
//! `https://auth.privy.io:443` never match `https://auth.privy.io`.

use url::Url;

/// One entry of `allowed_origins`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AllowedOrigin {
    /// An origin such as `https://auth.privy.io`.
    Exact(String),
    /// `<scheme>://*.<domain>[:<port>]`: any subdomain of `domain`, at any depth, on
    /// that scheme and port, but not `domain` itself.
    Subdomains {
        /// `https://`.
        scheme_prefix: String,
        /// `.example.com` or `.example.com:8443`.
        suffix: String,
    },
}

impl AllowedOrigin {
    /// Parses a config entry.
    ///
    /// # Errors
    ///
    /// A sentence saying why the entry is not an origin or an allowed pattern.
    pub(crate) fn parse(entry: &str) -> Result<Self, String> {
        if entry == "*" {
            return Err(
                "\"*\" would allow every site, and browsers reject it on requests \
                        with credentials: list each origin, or a subdomain pattern such as \
                        \"https://*.example.com\""
                    .to_owned(),
            );
        }
        if entry == "null" {
            return Err(
                "the null origin is sent by sandboxed frames and local files of \
                        any site: set danger_allow_null_origin = true to allow it"
                    .to_owned(),
            );
        }
        match entry.split_once("://*.") {
            Some((scheme, base)) => parse_pattern(entry, scheme, base),
            None if entry.contains('*') => Err(format!(
                "{entry:?} has a \"*\" that is not a leading \"*.\" before a domain"
            )),
            None => canonical_origin(entry).map(Self::Exact),
        }
    }

    /// Returns whether a request's `Origin` value matches this entry.
    pub(crate) fn matches(&self, origin: &str) -> bool {
        match self {
            Self::Exact(exact) => exact == origin,
            Self::Subdomains {
                scheme_prefix,
                suffix,
            } => origin
                .strip_prefix(scheme_prefix.as_str())
                .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                .is_some_and(is_subdomain_labels),
        }
    }
}

fn parse_pattern(entry: &str, scheme: &str, base: &str) -> Result<AllowedOrigin, String> {
    if base.contains('*') {
        return Err(format!(
            "{entry:?} has more than one \"*\": only a leading \"*.\" is allowed"
        ));
    }
    let base_origin = canonical_origin(&format!("{scheme}://{base}"))?;
    let host_and_port = base_origin
        .strip_prefix(&format!("{scheme}://"))
        .unwrap_or(base);
    let host = host_and_port.split(':').next().unwrap_or(host_and_port);
    if host.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[') {
        return Err(format!(
            "{entry:?} puts \"*\" before an IP address: a pattern needs a domain name"
        ));
    }
    // NOTE: only a top-level domain is rejected here. Without the public suffix list a
    // pattern such as `https://*.co.uk`, which spans unrelated sites, is still accepted.
    if !host.contains('.') {
        return Err(format!(
            "{entry:?} matches every site under a top-level domain: name a domain such as \
             \"https://*.example.com\""
        ));
    }
    Ok(AllowedOrigin::Subdomains {
        scheme_prefix: format!("{scheme}://"),
        suffix: format!(".{host_and_port}"),
    })
}

/// Returns `entry` as the origin a browser would send, or why it is not one.
fn canonical_origin(entry: &str) -> Result<String, String> {
    let url = Url::parse(entry).map_err(|error| format!("{entry:?} is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{entry:?} must use http or https"));
    }
    let has_extra = !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || url.path() != "/";
    if has_extra {
        return Err(format!(
            "{entry:?} is not an origin: write only scheme, host and port"
        ));
    }
    let canonical = url.origin().ascii_serialization();
    if entry.trim_end_matches('/') != canonical {
        return Err(format!(
            "{entry:?} is not written as browsers send it: write {canonical:?}"
        ));
    }
    Ok(canonical)
}

/// Returns whether `labels` is one or more DNS labels of lowercase letters, digits and
/// hyphens, separated by dots, as a browser writes the subdomain part of an origin.
fn is_subdomain_labels(labels: &str) -> bool {
    !labels.is_empty()
        && labels.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(entry: &str) -> AllowedOrigin {
        AllowedOrigin::parse(entry).unwrap()
    }

    #[test]
    fn exact_origin_matches_only_itself() {
        let privy = exact("https://auth.privy.io");
        assert!(privy.matches("https://auth.privy.io"));
        for other in [
            "http://auth.privy.io",
            "https://auth.privy.io:443",
            "https://auth.privy.io:8443",
            "https://auth.privy.io.",
            "https://Auth.privy.io",
            "https://auth.privy.io.evil.test",
            "https://evilauth.privy.io",
            "https://auth.privy.io/",
            "null",
            "",
        ] {
            assert!(!privy.matches(other), "{other}");
        }
    }

    #[test]
    fn trailing_slash_entry_accepted() {
        assert_eq!(
            exact("http://localhost:3000/"),
            AllowedOrigin::Exact("http://localhost:3000".to_owned())
        );
    }

    #[test]
    fn subdomain_pattern_matches_subdomains() {
        let pattern = exact("https://*.example.com");
        assert!(pattern.matches("https://app.example.com"));
        assert!(pattern.matches("https://a.b.example.com"));
        for other in [
            "https://example.com",
            "https://.example.com",
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com.evil.test",
            "https://appexample.com",
            "https://App.example.com",
            "https://a..example.com",
            "https://evil.test/.example.com",
        ] {
            assert!(!pattern.matches(other), "{other}");
        }
        let with_port = exact("https://*.example.com:8443");
        assert!(with_port.matches("https://app.example.com:8443"));
        assert!(!with_port.matches("https://app.example.com"));
    }

    #[test]
    fn bad_entries_rejected_with_reason() {
        let cases = [
            ("*", "every site"),
            ("null", "danger_allow_null_origin"),
            ("https://*", "leading"),
            ("https://*.com", "top-level domain"),
            ("https://*.*.example.com", "more than one"),
            ("https://*.127.0.0.1", "IP address"),
            ("ftp://example.com", "http or https"),
            ("https://example.com/path", "not an origin"),
            ("https://user@example.com", "not an origin"),
            ("https://example.com?x", "not an origin"),
            ("https://Example.com", "write \"https://example.com\""),
            ("https://example.com:443", "write \"https://example.com\""),
            ("example.com", "not a URL"),
        ];
        for (entry, reason) in cases {
            let error = AllowedOrigin::parse(entry).unwrap_err();
            assert!(error.contains(reason), "{entry}: {error}");
        }
    }
}
