//! The `rate_limit` plugin of Latchkey: per-client request limits, counted in the store,
//! against brute force and abuse of the ceremony endpoints.
//!
//! One hoop on every path counts each request against every rule whose `path_prefix` and
//! `methods` match it. A request over any rule's limit gets 429 `rate_limited` with
//! `Retry-After`, and the inner hoops and routes do not run.
//!
//! # Configuration
//!
//! Section `[plugins.rate_limit]`. Every key is optional.
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `rules` | array of tables `[[plugins.rate_limit.rules]]`, evaluated in order | `global` and `auth`, below |
//! | `ipv6_prefix` | prefix length IPv6 clients are grouped by, 1 to 128 | 64 |
//! | `forwarded_header` | header trusted proxies write: `"x-forwarded-for"` or `"forwarded"` (RFC 7239) | `"x-forwarded-for"` |
//! | `ietf_headers` | also send the IETF draft `RateLimit-Policy` and `RateLimit` headers | false |
//!
//! Each rule:
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `name` | unique name of ASCII letters, digits, `_` and `-`, used in keys and logs | required |
//! | `path_prefix` | path prefix, starting with `/`, matched by whole segments | required |
//! | `methods` | HTTP methods the rule applies to | every method |
//! | `limit` | requests (cost units) per window, at least 1 | required |
//! | `window` | window length in seconds, at least 1 | required |
//! | `key` | `"ip"`; `"ip_path"` for a counter per client and path; `"subject"` for a counter per user, the `sub` of a valid Bearer token, falling back to the address | `"ip"` |
//! | `cost` | units each request spends, 1 to `limit` | 1 |
//! | `on_store_error` | `"allow"` lets requests through when the store fails, `"deny"` responds 503 | `"deny"` |
//!
//! The defaults are `global`, 100 requests per 900 seconds on `/` with
//! `on_store_error = "allow"`, and `auth`, 5 per 3,600 seconds on `/api/auth` with
//! `on_store_error = "deny"`. Config files replace the `rules` array whole, so a file
//! that changes one rule restates every rule it keeps.
//!
//! # Algorithm and exactness
//!
//! Windows are fixed and aligned to the Unix epoch. A hit in rule `r` by client `c`
//! increments the store key `rate_limit:<r>:<c>:<unix seconds / window>` by `cost` with
//! the store's atomic `increment`. That creates the key with a TTL in the same step: one
//! Lua script in Redis, one lock in the memory store. The TTL is the time left in the window plus
//! up to one second, never more than the window, so no counter outlives its window by
//! more than that margin and none lives forever.
//!
//! The count within a window is exact across every instance that shares the store: of N
//! concurrent requests against a limit L, exactly L pass. A client can still get up to
//! 2 × L requests through around a window boundary, L at the end of one window and L at
//! the start of the next. Rejected requests are counted too, so a client that keeps
//! sending stays limited until the window ends. With the memory store every instance
//! counts on its own.
//!
//! # Responses
//!
//! Every response to a request that a rule matched carries `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the window ends) of the
//! most restrictive rule: an exceeded rule that resets last, or else the rule with the
//! fewest requests left. A rejected request gets 429, `Retry-After` and
//! `{"error", "code": "rate_limited", "message", "retryAfter", "limit", "remaining": 0,
//! "reset"}`. CORS preflights (`OPTIONS` with `Access-Control-Request-Method`) are not
//! counted.
//!
//! # Client address
//!
//! The client is the socket peer. When the peer is in `server.trusted_proxies`, the
//! header chosen by `forwarded_header` is walked from the right, skipping trusted hops,
//! and the first untrusted address is the client. An entry that is not an address stops
//! the walk at the last trusted hop, and at most 32 hops are walked. IPv4-mapped IPv6
//! addresses count as IPv4, and IPv6 clients are grouped by their `ipv6_prefix` network,
//! because one host usually holds a whole /64.
//!
//! # Store failures
//!
//! When the store fails, a rule with `on_store_error = "allow"` lets the request pass
//! uncounted and one with `"deny"` responds 503 `store_unavailable`. Failures are counted,
//! and logged at warn with the rule name at most once per rule every 10 seconds, with the
//! number of lines left out.

mod client_key;
mod config;
mod error;
mod hoop;
mod plugin;
mod window;

pub use crate::config::{Config, ForwardedHeader, KeyKind, OnStoreError, RuleConfig};
pub use crate::hoop::RateLimit;
pub use crate::plugin::RateLimitPlugin;

/// Name of the plugin and of its config section.
pub const PLUGIN_NAME: &str = "rate_limit";

latchkey_sdk::register_plugin!(RateLimitPlugin);
