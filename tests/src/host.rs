//! A Latchkey host started in the test process on a free port.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use latchkey_sdk::capability::{TokenIssuer, TokenVerifier};

use latchkey::config::{self, ConfigSources};
use latchkey::server::RunningServer;
use reqwest::StatusCode;
use serde_json::Value;

use crate::device::{Device, ORIGIN};

/// Where a test host keeps its state.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The in-process memory store.
    Memory,
    /// A Redis server, by URL.
    Redis(String),
}

impl Backend {
    fn toml(&self) -> String {
        match self {
            Self::Memory => "[store]\nkind = \"memory\"\n".to_owned(),
            Self::Redis(url) => format!("[store]\nkind = \"redis\"\nredis_url = \"{url}\"\n"),
        }
    }
}

/// A running host and an HTTP client for it.
#[derive(Debug)]
pub struct TestHost {
    server: RunningServer,
    http: reqwest::Client,
}

impl TestHost {
    /// Starts a host on `backend` with the test defaults: a free loopback port and the
    /// public URL [`ORIGIN`].
    ///
    /// # Panics
    ///
    /// When the host fails to start.
    pub async fn start(backend: &Backend) -> Self {
        Self::start_with(backend, "").await
    }

    /// Starts a host as [`TestHost::start`] does, with `extra` TOML merged last.
    ///
    /// # Panics
    ///
    /// When the host fails to start.
    pub async fn start_with(backend: &Backend, extra: &str) -> Self {
        match Self::try_start(backend, extra).await {
            Ok(host) => host,
            Err(error) => panic!("test host failed to start: {error:#}"),
        }
    }

    /// Starts a host, returning the start-up error instead of panicking.
    ///
    /// # Errors
    ///
    /// Whatever stopped the host from starting.
    pub async fn try_start(backend: &Backend, extra: &str) -> anyhow::Result<Self> {
        init_logging();
        let base = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{ORIGIN}\"\nshutdown_timeout = 2\n"
        );
        let sources = ConfigSources {
            profile: Some("development".to_owned()),
            files: Vec::new(),
            environment: false,
            overrides: vec![base, backend.toml(), extra.to_owned()],
        };
        let config = config::load(&sources)?;
        let server = latchkey::server::start(config).await?;
        Ok(Self {
            server,
            http: reqwest::Client::new(),
        })
    }

    /// Returns the absolute URL of `path` on this host.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// Returns the HTTP client.
    #[must_use]
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Returns the running server.
    #[must_use]
    pub fn server(&self) -> &RunningServer {
        &self.server
    }

    /// Returns the host's token issuer capability.
    ///
    /// # Panics
    ///
    /// When no plugin provides one.
    #[must_use]
    pub fn issuer(&self) -> Arc<dyn TokenIssuer> {
        self.server
            .capabilities()
            .get::<dyn TokenIssuer>()
            .expect("the jwt plugin provides a token issuer")
    }

    /// Returns the host's token verifier capability.
    ///
    /// # Panics
    ///
    /// When no plugin provides one.
    #[must_use]
    pub fn verifier(&self) -> Arc<dyn TokenVerifier> {
        self.server
            .capabilities()
            .get::<dyn TokenVerifier>()
            .expect("the jwt plugin provides a token verifier")
    }

    /// Sends `GET path` and returns the status and the JSON body (`Null` if not JSON).
    ///
    /// # Panics
    ///
    /// When the request cannot be sent.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("GET sent");
        split(response).await
    }

    /// Sends `POST path` with `body` as JSON and returns the status and JSON body.
    ///
    /// # Panics
    ///
    /// When the request cannot be sent.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST sent");
        split(response).await
    }

    /// Sends `POST path` with `body` as raw bytes and returns the status and JSON body.
    ///
    /// # Panics
    ///
    /// When the request cannot be sent.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST sent");
        split(response).await
    }

    /// Sends `method path` with `token` as a Bearer token and, when given, `body` as JSON,
    /// and returns the status and JSON body.
    ///
    /// # Panics
    ///
    /// When the request cannot be sent.
    pub async fn send_with_token(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        split(request.send().await.expect("request sent")).await
    }

    /// Sends `GET path` with `token` as a Bearer token.
    ///
    /// # Panics
    ///
    /// When the request cannot be sent.
    pub async fn get_with_token(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send_with_token(reqwest::Method::GET, path, token, None)
            .await
    }

    /// Sends `POST path` as an HTML form of `fields`, with `authorization` as the header
    /// when given, and returns the status and JSON body.
    ///
    /// # Panics
    ///
    /// When the request cannot be sent.
    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> (StatusCode, Value) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        split(request.send().await.expect("POST sent")).await
    }

    /// Registers a new user called `display_name` with `device` and returns the response body:
    /// `token`, `userID`, and `refreshToken` when sessions are on.
    ///
    /// # Panics
    ///
    /// When a ceremony step fails.
    pub async fn register(&self, device: &mut Device, display_name: &str) -> Value {
        let path = format!(
            "/api/auth/challenge/register?displayName={}",
            url::form_urlencoded::byte_serialize(display_name.as_bytes()).collect::<String>()
        );
        let (status, options) = self.get(&path).await;
        assert_eq!(status, StatusCode::OK, "registration challenge: {options}");
        let response = device.register(&options).await.expect("device registers");
        let (status, body) = self
            .post(
                "/api/auth/register-passkey",
                &serde_json::json!({ "attestationResponse": response }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "registration: {body}");
        body
    }

    /// Logs in with `device` and returns the response body, as [`TestHost::register`] does.
    ///
    /// # Panics
    ///
    /// When a ceremony step fails.
    pub async fn login(&self, device: &mut Device) -> Value {
        let (status, options) = self.get("/api/auth/challenge/login").await;
        assert_eq!(status, StatusCode::OK, "login challenge: {options}");
        let response = device.login(&options).await.expect("device signs");
        let (status, body) = self
            .post(
                "/api/auth/login-passkey",
                &serde_json::json!({ "authenticationResponse": response }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login: {body}");
        body
    }

    /// Returns every key in the host's store, sorted.
    ///
    /// # Panics
    ///
    /// When the store cannot be read.
    pub async fn store_keys(&self) -> Vec<String> {
        let mut keys = self.server.store().keys("").await.expect("store readable");
        keys.sort();
        keys
    }

    /// Shuts the host down gracefully.
    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}

async fn split(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "off".to_owned());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// Returns the `latchkey` binary that `cargo test --workspace` built beside the running
/// test executable, for tests that run it as a process.
///
/// # Panics
///
/// When the binary has not been built.
#[must_use]
pub fn latchkey_binary() -> PathBuf {
    let test_exe = std::env::current_exe().expect("test executable path");
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in <target>/<profile>/deps");
    let binary = profile_dir.join("latchkey");
    assert!(
        binary.is_file(),
        "{} not found: run `cargo build -p latchkey` first",
        binary.display()
    );
    binary
}
