//! A `redis-server` on a free port, stopped when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh `redis-server` gets to reply to `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` child process that keeps nothing on disk.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it replies to `PING`.
    ///
    /// # Panics
    ///
    /// When `redis-server` is not installed, with the command that installs it, or when
    /// it does not start.
    #[must_use]
    pub fn start() -> Self {
        for _ in 0..5 {
            let port = free_port();
            let child = spawn(port);
            let mut server = Self { child, port };
            if server.wait_until_ready() {
                return server;
            }
            // Another process took the port between probe and bind; try a new one.
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Stops the server and starts a fresh one on the same port, as after a Redis restart
    /// that lost its data.
    ///
    /// # Panics
    ///
    /// When the new server does not start.
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(self.port);
        assert!(
            self.wait_until_ready(),
            "redis-server did not restart on port {}",
            self.port
        );
    }

    /// Stops the server; it stays stopped until [`RedisServer::restart`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Returns the server's URL.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Returns the server's port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Opens a client connection, for tests that inspect keys directly.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("valid Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("test Redis reachable")
    }

    fn wait_until_ready(&mut self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let pinged = redis::Client::open(self.url())
                .and_then(|client| client.get_connection())
                .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection));
            if pinged.is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

fn spawn(port: u16) -> Child {
    let spawned = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "redis-server is not installed, and the tests need it: install it with \
             `sudo apt-get install redis-server` (Debian, Ubuntu) or `brew install redis` (macOS)"
        ),
        Err(error) => panic!("cannot run redis-server: {error}"),
    }
}
