//! Plugins loaded from shared libraries.
//!
//! The example plugin `greeter` and four fixture libraries are built as `cdylib`s in one
//! cargo invocation with the `latchkey` binary, into `target/dynamic-plugins`, so that the
//! crates they share are built the same way. Each test runs that binary as a process with
//! `[[dynamic_plugins]]` in its config, and talks HTTP to it or reads its rejection.
//!
//! The same greeter source is also linked into this test binary as a plain library, so
//! the in-process hosts here have it compiled in.

use std::path::Path;
use std::time::{Duration, Instant};

use latchkey::plugins::{Catalog, PluginSource};
use latchkey_tests::process::{
    LibraryBuild, Process, START_TIMEOUT, config_file, latchkey_command, library_build,
};
use latchkey_tests::{Backend, Device, ORIGIN, RedisServer, TestHost};
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

// Links the greeter into this binary, where `inventory` registers it as a built-in.
use latchkey_example_greeter as _;

fn build() -> &'static LibraryBuild {
    library_build()
}

fn latchkey(config: &Path) -> Command {
    latchkey_command(&build().binary, config)
}
/// Runs `latchkey serve` on `config`, expects it to fail to start, and returns what it
/// printed.
async fn rejection(name: &str, config: &str) -> String {
    let file = config_file(name, config);
    let output = tokio::time::timeout(START_TIMEOUT, latchkey(&file).arg("serve").output())
        .await
        .expect("latchkey exits in time")
        .expect("latchkey runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "latchkey started:\n{text}");
    assert!(
        !text.contains("latchkey listening"),
        "it listened first:\n{text}"
    );
    text
}

/// Returns the config of a process: a free port, the origin of [`Device`]'s pages, `store`, the
/// greeter library, and `extra`.
fn greeter_config(store: &str, extra: &str) -> String {
    let library = build().library("latchkey-example-greeter");
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{ORIGIN}\"\n{store}\n\
         [[dynamic_plugins]]\npath = {library:?}\n{extra}"
    )
}

fn redis_store(redis: &RedisServer) -> String {
    format!(
        "[store]\nkind = \"redis\"\nredis_url = \"{}\"\n",
        redis.url()
    )
}

/// Registers a passkey of a new [`Device`] on `host`, and returns the status and body of
/// the registration.
async fn register_passkey(host: &Process) -> (StatusCode, Value) {
    let mut device = Device::new();
    let (status, options) = host
        .get_json("/api/auth/challenge/register?displayName=Ada")
        .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let attestation = device.register(&options).await.expect("device registers");
    host.post_json(
        "/api/auth/register-passkey",
        &json!({ "attestationResponse": attestation }),
    )
    .await
}

/// Only the greeter's hello route is rate limited, to 2 requests a minute.
const HELLO_LIMIT: &str = r#"
[[plugins.rate_limit.rules]]
name = "hello"
path_prefix = "/api/greeter/hello"
limit = 2
window = 60
"#;

#[tokio::test]
async fn library_plugin_serves_among_built_ins() {
    let redis = RedisServer::start();
    let config = greeter_config(
        &redis_store(&redis),
        &format!(
            "order = 50\n\n[plugins.greeter]\ngreeting = \"bonjour\"\ntick_every_ms = 100\n\
             panic_route = true\n\n[plugins.greeter.scope]\nexcept = [\"/api/greeter/ticks\"]\n\
             {HELLO_LIMIT}"
        ),
    );
    let host = Process::start(&build().binary, "serves", &config).await;

    // Its route responds, with its config, and counts in the store.
    for visits in 1..=2 {
        let response = host.get("/api/greeter/hello").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-greeter"], "bonjour");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body, json!({ "greeting": "bonjour", "visits": visits }));
    }
    let mut redis_connection = redis.connection().await;
    let visits: String = redis_connection
        .get("latchkey:greeter:visits")
        .await
        .expect("visit counter in Redis");
    assert_eq!(visits, "2");

    // The task the hello route spawns through the SDK runs on the host's runtime, where
    // its timeout finds a timer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let last_visit: Option<String> = redis_connection
            .get("latchkey:greeter:last_visit")
            .await
            .expect("Redis readable");
        if last_visit.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no last visit recorded:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Order 50 puts its hoop inside cors (20) and outside rate_limit (100): the limiter's
    // 429 passes back through it, and the preflight that cors handles does not reach it.
    let limited = host.get("/api/greeter/hello").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["x-greeter"], "bonjour");
    let preflight = host
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/greeter/hello", host.url),
        )
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight sent");
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert!(preflight.headers().get("x-greeter").is_none());

    // Its background task runs on the host's runtime and writes to the store; its scope
    // keeps its hoop off the ticks route.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = host.get("/api/greeter/ticks").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("x-greeter").is_none());
        let body: Value = response.json().await.expect("json");
        if body["ticks"].as_i64().is_some_and(|ticks| ticks >= 3) {
            break;
        }
        assert!(Instant::now() < deadline, "ticks stayed at {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ticks: i64 = redis_connection
        .get("latchkey:greeter:ticks")
        .await
        .expect("tick counter in Redis");
    assert!(ticks >= 3, "{ticks}");

    // Its log lines reach the host's subscriber, inside a span naming the plugin.
    host.log_line(&[
        "library{plugin=\"greeter\"}",
        "greeter ready",
        "greeting=bonjour",
    ])
    .await;
    host.log_line(&["library{plugin=\"greeter\"}", "greeter tick"])
        .await;

    // A panic in its handler is a 500 for that request only.
    let (status, body) = host.get_json("/api/greeter/panic").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["code"], "internal_error");
    assert!(!body.to_string().contains("greeter panic route"), "{body}");
    host.log_line(&[
        "plugin handler panicked",
        "greeter panic route called",
        "greeter",
    ])
    .await;
    let (status, _) = host.get_json("/api/greeter/ticks").await;
    assert_eq!(status, StatusCode::OK);

    // So is a panic in a task it spawned, which the request does not wait for.
    let (status, body) = host.get_json("/api/greeter/panic?in=task").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body, json!({ "spawned": true }));
    host.log_line(&[
        "plugin task panicked",
        "greeter spawned task panicked",
        "greeter",
    ])
    .await;
    let (status, _) = host.get_json("/api/greeter/ticks").await;
    assert_eq!(status, StatusCode::OK);

    // Its guarded route verifies tokens through the jwt plugin's capability.
    let (status, body) = host.get_json("/api/greeter/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, registered) = register_passkey(&host).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let token = registered["token"].as_str().expect("token");
    let response = host
        .http
        .get(format!("{}/api/greeter/me", host.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["greeting"], "bonjour");
    assert_eq!(body["sub"], registered["userID"]);

    host.stop().await;
}

#[tokio::test]
async fn panicking_library_capabilities_contained() {
    let library = build().library("latchkey-fixture-panicking-tokens");
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{ORIGIN}\"\n\
         [plugins.jwt]\nenabled = false\n\
         [[dynamic_plugins]]\npath = {library:?}\n"
    );
    let host = Process::start(&build().binary, "capabilities", &config).await;

    // The passkey plugin's registration ends in the library's token issuer, which panics.
    // The panic becomes a signing failure, which the passkey plugin reports as 503.
    let (status, body) = register_passkey(&host).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "token_unavailable");
    assert!(!body.to_string().contains("fixture"), "{body}");
    host.log_line(&[
        "plugin capability panicked",
        "fixture issuer panicked",
        "panicking_tokens",
    ])
    .await;

    // The guard's call into the library's verifier panics: the token is rejected.
    let response = host
        .http
        .get(format!("{}/api/auth/me", host.url))
        .bearer_auth("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    host.log_line(&["plugin capability panicked", "fixture verifier panicked"])
        .await;

    // And the host still serves.
    let (status, options) = host.get_json("/api/auth/challenge/login").await;
    assert_eq!(status, StatusCode::OK, "{options}");
    host.stop().await;
}

#[tokio::test]
async fn configured_order_moves_the_hoop_inside_the_limiter() {
    let config = greeter_config("", &format!("order = 150\n{HELLO_LIMIT}"));
    let host = Process::start(&build().binary, "inner", &config).await;
    for _ in 0..2 {
        let response = host.get("/api/greeter/hello").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-greeter"], "hello");
    }
    // The limiter (100) now responds before the request reaches the greeter's hoop.
    let limited = host.get("/api/greeter/hello").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get("x-greeter").is_none());
    host.stop().await;
}

#[tokio::test]
async fn plugins_command_shows_the_library_file() {
    let config = greeter_config("", "order = 42\n");
    let file = config_file("listing", &config);
    let output = latchkey(&file).arg("plugins").output().await.expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    let library = build().library("latchkey-example-greeter");
    let greeter = text
        .lines()
        .find(|line| line.starts_with("greeter "))
        .unwrap_or_else(|| panic!("no greeter line:\n{text}"));
    let columns: Vec<&str> = greeter.split_whitespace().collect();
    assert_eq!(
        &columns[..4],
        ["greeter", "0.1.0", "yes", "42"],
        "{greeter}"
    );
    assert_eq!(columns.last(), Some(&library.to_str().expect("utf-8 path")));
    let jwt = text
        .lines()
        .find(|line| line.starts_with("jwt "))
        .expect("jwt line");
    assert!(jwt.ends_with(" built-in"), "{jwt}");
}

#[tokio::test]
async fn library_of_another_abi_rejected_with_both_versions() {
    let redis = RedisServer::start();
    let library = build().library("latchkey-fixture-other-abi");
    let config = format!(
        "{}[[dynamic_plugins]]\npath = {library:?}\n",
        redis_store(&redis)
    );
    let text = rejection("abi", &config).await;
    let version = latchkey_sdk::dynamic::ABI_VERSION;
    let expected = format!(
        "latchkey: dynamic plugin {} was built with SDK ABI version {}, but the host has \
         {version}: rebuild it with the host's toolchain and SDK",
        library.display(),
        version + 1
    );
    assert_eq!(text.trim_end(), expected);
    // Rejected before any plugin started: nothing was written.
    let keys: Vec<String> = redis.connection().await.keys("*").await.expect("keys");
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn unloadable_libraries_rejected_naming_the_file() {
    let build = build();
    let not_a_plugin = build.library("latchkey-fixture-not-a-plugin");
    let text = rejection(
        "no-declaration",
        &format!("[[dynamic_plugins]]\npath = {not_a_plugin:?}\n"),
    )
    .await;
    assert!(
        text.contains(&format!(
            "{} is not a Latchkey plugin library: it does not export \
             latchkey_plugin_declaration",
            not_a_plugin.display()
        )),
        "{text}"
    );

    let missing = build.directory.join("libnowhere.so");
    let text = rejection(
        "missing",
        &format!("[[dynamic_plugins]]\npath = {missing:?}\n"),
    )
    .await;
    assert!(
        text.contains(&format!(
            "dynamic plugin {} (dynamic_plugins[0].path",
            missing.display()
        )),
        "{text}"
    );
    assert!(text.contains("does not exist"), "{text}");

    // A truncated copy is rejected before the loader maps it, which would crash the host.
    let greeter = std::fs::read(build.library("latchkey-example-greeter")).expect("readable");
    let truncated = config_file("truncated", "").with_file_name("truncated.so");
    std::fs::write(&truncated, &greeter[..4096]).expect("copy written");
    let text = rejection(
        "truncated",
        &format!("[[dynamic_plugins]]\npath = {truncated:?}\n"),
    )
    .await;
    assert!(
        text.contains(&format!("{} (dynamic_plugins[0].path", truncated.display())),
        "{text}"
    );
    assert!(text.contains("is truncated: it has 4096 bytes"), "{text}");

    // The loader's own reason reaches the message.
    let empty = config_file("empty", "").with_file_name("empty.so");
    std::fs::write(&empty, b"").expect("empty file written");
    let text = rejection("empty", &format!("[[dynamic_plugins]]\npath = {empty:?}\n")).await;
    assert!(text.contains("dlopen failed: "), "{text}");
    assert!(text.contains("file too short"), "{text}");

    // A relative path resolves against the config file's directory.
    let file = config_file(
        "relative",
        "[[dynamic_plugins]]\npath = \"libnowhere.so\"\n",
    );
    let output = latchkey(&file).arg("plugins").output().await.expect("runs");
    let text = String::from_utf8_lossy(&output.stderr);
    let resolved = file.parent().expect("dir").join("libnowhere.so");
    assert!(text.contains(&resolved.display().to_string()), "{text}");
}

#[tokio::test]
async fn duplicate_plugin_names_rejected() {
    let build = build();
    let clashing = build.library("latchkey-fixture-clashing-name");
    let text = rejection(
        "clash",
        &format!("[[dynamic_plugins]]\npath = {clashing:?}\n"),
    )
    .await;
    assert!(
        text.contains(&format!(
            "two plugins are named passkey: the built-in plugin and the library {}",
            clashing.display()
        )),
        "{text}"
    );

    let greeter = build.library("latchkey-example-greeter");
    let copy = config_file("copy", "").with_file_name("greeter-copy.so");
    std::fs::copy(&greeter, &copy).expect("library copied");
    let text = rejection(
        "twice",
        &format!("[[dynamic_plugins]]\npath = {greeter:?}\n[[dynamic_plugins]]\npath = {copy:?}\n"),
    )
    .await;
    assert!(
        text.contains(&format!(
            "two plugins are named greeter: the library {} and the library {}",
            greeter.display(),
            copy.display()
        )),
        "{text}"
    );

    let text = rejection(
        "conflict",
        &greeter_config("", "order = 50\n[plugins.greeter]\norder = 60\n"),
    )
    .await;
    assert!(text.contains("plugins.greeter.order (60, from "), "{text}");
    assert!(
        text.contains("dynamic_plugins[0].order (50, from "),
        "{text}"
    );
    assert!(text.contains("disagree: set it in one place"), "{text}");
}

#[tokio::test]
async fn same_source_compiled_in_registers_as_built_in() {
    let host = TestHost::start(&Backend::Memory).await;
    let response = host
        .http()
        .get(host.url("/api/greeter/hello"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-greeter"], "hello");
    host.stop().await;

    let config =
        latchkey::config::load(&latchkey::config::ConfigSources::default()).expect("defaults load");
    let catalog = Catalog::discover(&config).expect("catalog");
    let greeter = catalog
        .entries()
        .iter()
        .find(|entry| entry.plugin.name() == "greeter")
        .expect("greeter compiled in");
    assert_eq!(greeter.source, PluginSource::BuiltIn);
}

#[tokio::test]
async fn scope_limits_a_built_in_plugins_hoops() {
    let scoped = "[plugins.rate_limit.scope]\nonly = [\"/api/greeter\"]\n";
    let host = TestHost::start_with(&Backend::Memory, scoped).await;
    for path in ["/api/greeter/hello", "//api/%67reeter/hello"] {
        let response = host.http().get(host.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers().contains_key("x-ratelimit-limit"),
            "{path} not limited"
        );
    }
    // The compiled-in greeter's task writes its own key meanwhile, so count only the
    // limiter's keys.
    let rate_limit_keys = async || {
        let mut keys = host.store_keys().await;
        keys.retain(|key| key.starts_with("rate_limit:"));
        keys
    };
    let counters = rate_limit_keys().await;
    assert!(!counters.is_empty());
    let jwks = host
        .http()
        .get(host.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("sent");
    assert_eq!(jwks.status(), StatusCode::OK);
    assert!(!jwks.headers().contains_key("x-ratelimit-limit"));
    // No counter was written for the path outside the scope.
    assert_eq!(rate_limit_keys().await, counters);
    host.stop().await;

    let error = TestHost::try_start(
        &Backend::Memory,
        "[plugins.rate_limit.scope]\nexcept = [\"api\"]\n",
    )
    .await
    .expect_err("relative prefix rejected");
    let message = format!("{error:#}");
    assert!(
        message.contains("plugins.rate_limit.scope.except[0]"),
        "{message}"
    );
    assert!(message.contains("not a path prefix"), "{message}");
}
