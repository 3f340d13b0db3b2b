//! The `latchkey` binary and plugin libraries built by cargo, run as processes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// How long a process gets to start or to reject its config.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `latchkey` binary and the plugin libraries, built together.
#[derive(Debug)]
pub struct LibraryBuild {
    /// The `latchkey` binary.
    pub binary: PathBuf,
    /// The directory of the binary and the libraries.
    pub directory: PathBuf,
}

impl LibraryBuild {
    /// Returns the path of the library of `crate_name`, such as `libx.so` on Linux.
    #[must_use]
    pub fn library(&self, crate_name: &str) -> PathBuf {
        let file = crate_name.replace('-', "_");
        self.directory.join(format!(
            "{}{file}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    }
}

/// Which cargo profile a build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `dev`, into `debug/`.
    Debug,
    /// `release`, into `release/`.
    Release,
}

impl Profile {
    fn directory(self) -> PathBuf {
        let name = match self {
            Self::Debug => "debug",
            Self::Release => "release",
        };
        target_dir().join(name)
    }

    fn add_flag(self, command: &mut std::process::Command) {
        if self == Self::Release {
            command.arg("--release");
        }
    }
}

/// Returns the debug build of [`build_libraries`], made once per process.
///
/// # Panics
///
/// When the build fails.
pub fn library_build() -> &'static LibraryBuild {
    static BUILD: OnceLock<LibraryBuild> = OnceLock::new();
    BUILD.get_or_init(|| build_libraries(Profile::Debug))
}

/// Builds the host, the example plugin and the fixture libraries in one cargo invocation
/// into `target/dynamic-plugins`, so that the crates they share are built the same way.
/// A nested cargo needs its own target directory, because the one running the tests is
/// locked.
///
/// # Panics
///
/// When the build fails.
pub fn build_libraries(profile: Profile) -> LibraryBuild {
    let mut command = cargo();
    command
        .args([
            "build",
            "-p",
            "latchkey",
            "-p",
            "latchkey-example-greeter",
            "-p",
            "latchkey-fixture-other-abi",
            "-p",
            "latchkey-fixture-not-a-plugin",
            "-p",
            "latchkey-fixture-clashing-name",
            "-p",
            "latchkey-fixture-panicking-tokens",
            "--features",
            "latchkey-example-greeter/dynamic,latchkey-fixture-clashing-name/dynamic,\
             latchkey-fixture-panicking-tokens/dynamic",
            "--target-dir",
        ])
        .arg(target_dir());
    run_build(command, profile, "the plugin libraries");
    let directory = profile.directory();
    LibraryBuild {
        binary: directory.join("latchkey"),
        directory,
    }
}

/// Builds the example `greeter_host`, the `latchkey` binary with the greeter compiled in,
/// into the directory of [`build_libraries`], and returns its path.
///
/// # Panics
///
/// When the build fails.
pub fn greeter_host_build(profile: Profile) -> PathBuf {
    let mut command = cargo();
    command
        .args([
            "build",
            "-p",
            "latchkey-example-greeter",
            "--example",
            "greeter_host",
            "--target-dir",
        ])
        .arg(target_dir());
    run_build(command, profile, "greeter_host");
    profile.directory().join("examples").join("greeter_host")
}

/// Runs the cargo build `command` in `profile`, and panics with cargo's output, naming
/// `what`, when it fails.
fn run_build(mut command: std::process::Command, profile: Profile, what: &str) {
    profile.add_flag(&mut command);
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "building {what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

fn target_dir() -> PathBuf {
    workspace_root().join("target").join("dynamic-plugins")
}

/// Returns a cargo command in the workspace root, free of the calling cargo's target
/// directory.
fn cargo() -> std::process::Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = std::process::Command::new(cargo);
    command
        .current_dir(workspace_root())
        .env_remove("CARGO_TARGET_DIR");
    command
}

/// Writes `config` to a file of its own and returns the path.
///
/// # Panics
///
/// When the file cannot be written.
pub fn config_file(name: &str, config: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("latchkey-dynamic-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let path = directory.join("latchkey.toml");
    std::fs::write(&path, config).expect("config written");
    path
}

/// Returns a command that runs `binary` on the config file `config`.
pub fn latchkey_command(binary: &Path, config: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(config)
        .env_remove("LATCHKEY_PROFILE")
        .env("RUST_LOG", "info,latchkey_example_greeter=debug")
        .env("RUST_BACKTRACE", "0")
        .kill_on_drop(true);
    command
}

/// A `latchkey serve` process and everything it logged so far.
pub struct Process {
    child: Child,
    /// The base URL the process listens on.
    pub url: String,
    log: Arc<Mutex<String>>,
    /// A client for it.
    pub http: reqwest::Client,
}

impl Process {
    /// Starts `binary serve` on `config`, written to a file named after `name`, and waits
    /// until it listens.
    ///
    /// # Panics
    ///
    /// When the process exits or does not listen within [`START_TIMEOUT`].
    pub async fn start(binary: &Path, name: &str, config: &str) -> Self {
        let file = config_file(name, config);
        let mut child = latchkey_command(binary, &file)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("latchkey starts");
        let log = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().expect("stdout piped"), Arc::clone(&log));
        collect(child.stderr.take().expect("stderr piped"), Arc::clone(&log));

        let deadline = Instant::now() + START_TIMEOUT;
        let address = loop {
            if let Some(address) = listen_address(&log.lock().expect("log lock")) {
                break address;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "latchkey exited with {status}:\n{}",
                    log.lock().expect("log")
                );
            }
            assert!(Instant::now() < deadline, "latchkey did not start in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Self {
            child,
            url: format!("http://{address}"),
            log,
            http: reqwest::Client::new(),
        }
    }

    /// Returns the process's resident set size in KiB, read from `/proc` (Linux only).
    #[must_use]
    pub fn resident_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Returns everything the process printed so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Sends `GET path`.
    ///
    /// # Panics
    ///
    /// When the request cannot be sent.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request sent")
    }

    /// Sends `GET path` and returns the status and the JSON body, `null` when it is not
    /// JSON.
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Sends `POST path` with the JSON `body` and returns the status and the JSON body.
    ///
    /// # Panics
    ///
    /// When the request cannot be sent.
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until the log has a line containing every one of `parts`, and returns it.
    pub async fn log_line(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if let Some(line) = log
                .lines()
                .find(|line| parts.iter().all(|part| line.contains(part)))
            {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {parts:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, log: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = log.lock().expect("log lock");
            log.push_str(&line);
            log.push('\n');
        }
    });
}

/// Reads the address of the `latchkey listening listen=<address>` line.
fn listen_address(log: &str) -> Option<String> {
    let line = log
        .lines()
        .find(|line| line.contains("latchkey listening"))?;
    let rest = &line[line.find("listen=")? + "listen=".len()..];
    Some(rest.split_whitespace().next()?.to_owned())
}
