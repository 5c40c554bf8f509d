//! Starts a real `redis-server` on loopback for tests: a free port on 127.0.0.1, a fresh
//! temporary directory, `appendonly yes` with `appendfsync always` (every write is in the
//! append-only file, fsynced, before Redis answers), no RDB snapshots.
//!
//! ```no_run
//! use booking_host_spawn::{RedisServer, RuntimeOptions};
//!
//! let Some(redis) = RedisServer::start()? else {
//!     println!("redis-server is not installed: skipped");
//!     return Ok(());
//! };
//! let options = RuntimeOptions::for_workspace().redis(&redis);
//! # Ok::<(), booking_host_spawn::StartError>(())
//! ```
//!
//! The server runs under a small `sh` wrapper whose standard input this process holds: when
//! the [`RedisServer`] is dropped, or this process exits in any way, the pipe closes and the
//! wrapper stops the server and removes its directory, so no server outlives its harness.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{RuntimeOptions, StartError};

/// How long the server may take to answer `PING`.
const REDIS_STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long drop waits for the wrapper to stop the server.
const REDIS_STOP_GRACE: Duration = Duration::from_secs(10);

/// The arguments every test Redis runs with after its port and directory:
/// durable (append-only file, fsync'd before each answer: a write
/// acknowledged survives `kill -9`), in the foreground, logging nowhere.
pub const REDIS_DURABLE_ARGS: [&str; 10] = [
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "",
    "--daemonize",
    "no",
    "--logfile",
    "",
];

/// The `redis-server` binary: `$BOOKING_REDIS_SERVER` if set, else `redis-server` on `PATH`;
/// `None` if there is none.
pub fn redis_server_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("BOOKING_REDIS_SERVER").filter(|bin| !bin.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// A running `redis-server`, stopped (and its directory removed) on drop.
pub struct RedisServer {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    dir: PathBuf,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish()
    }
}

/// The wrapper: starts the server in the background, stops it when stdin closes, and exits
/// (removing the directory) when the server exits.
const WRAPPER: &str = r#"
exec 3<&0
"$BOOKING_REDIS_BIN" "$@" </dev/null &
pid=$!
(cat >/dev/null; kill "$pid" 2>/dev/null) <&3 &
wait "$pid"
status=$?
rm -rf "$BOOKING_REDIS_DIR"
exit "$status"
"#;

impl RedisServer {
    /// Starts a server, or returns `None` if `redis-server` is not installed.
    pub fn start() -> Result<Option<Self>, StartError> {
        let Some(bin) = redis_server_bin() else {
            return Ok(None);
        };
        let mut last = String::new();
        // A free port is picked by binding port 0 and releasing it: another process may take
        // it in between, so try a few times.
        for _ in 0..5 {
            match Self::start_once(&bin) {
                Ok(server) => return Ok(Some(server)),
                Err(error) => last = error,
            }
        }
        Err(StartError(format!(
            "could not start {}: {last}",
            bin.display()
        )))
    }

    fn start_once(bin: &std::path::Path) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("no free port: {error}"))?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "booking-redis-{}-{port}-{}",
            std::process::id(),
            crate::unique_suffix()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg("booking-redis")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--dir")
            .arg(&dir)
            .args(REDIS_DURABLE_ARGS)
            .args(["--protected-mode", "yes"])
            .env("BOOKING_REDIS_BIN", bin)
            .env("BOOKING_REDIS_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot run sh: {error}"))?;
        let mut server = Self {
            stdin: None,
            child,
            port,
            dir,
        };
        server.stdin = server.child.stdin.take();
        let deadline = Instant::now() + REDIS_STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "redis-server exited at start ({status}) on port {port}"
                ));
            }
            if server.ping() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("redis-server did not answer PING on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answers `PING` with `PONG`.
    pub fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `allowed_outbound_hosts` (the app's `redis_host`).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:PORT`, the app's `redis_address`.
    pub fn address(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's data directory (the append-only file lives here).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + REDIS_STOP_GRACE;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RuntimeOptions {
    /// Serves the app on `redis` instead of the default key-value store: sets the app's
    /// `redis_address` and `redis_host` variables.
    pub fn redis(self, redis: &RedisServer) -> Self {
        self.variable("redis_address", redis.address())
            .variable("redis_host", redis.host())
    }
}
