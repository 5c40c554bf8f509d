//! Starts the local runtime, `booking-host up`, as a child process: the one helper that the
//! HTTP suite (`booking-e2e`), the load generator (`booking-load`) and the runtime's own tests
//! use to run an application.
//!
//! ```no_run
//! use booking_host_spawn::{LocalRuntime, RuntimeOptions};
//!
//! let options = RuntimeOptions::for_workspace()
//!     .variable("admin_token", "secret")
//!     .variable("confirm_token", "another-secret");
//! let runtime = LocalRuntime::start(&options)?;
//! println!("serving at {}", runtime.base_url());
//! // Dropping `runtime` stops the runtime and removes the state directory it made.
//! # Ok::<(), booking_host_spawn::StartError>(())
//! ```
//!
//! The runtime is started with `--exit-on-stdin-eof` and its standard input held by this
//! process, so it stops when this process's end of the pipe closes: when the [`LocalRuntime`] is
//! dropped, and also when this process exits in any way (normally, by panic or by a signal),
//! so no runtime outlives its harness.
//!
//! Application variables are passed only as given in [`RuntimeOptions::variables`]: the
//! `SPIN_VARIABLE_*` variables of this process are not inherited, so a developer's environment
//! cannot change what a test run serves.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod kv_calls;
mod redis;
pub use kv_calls::{KV_CALLS_PATH, KV_CALLS_PREFIX, KvCalls, KvCallsOf};
pub use redis::{REDIS_DURABLE_ARGS, RedisServer, redis_server_bin};

/// How long the runtime may take to print its `Serving` line: compiling the components can
/// take a while on a cold cache and a busy 2-core machine.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long [`LocalRuntime`]'s drop waits for the runtime to exit after closing its stdin,
/// before killing it.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How much of the runtime's standard error is kept (the tail).
const STDERR_TAIL_BYTES: usize = 64 * 1024;

/// The environment prefix Spin's environment variables provider reads.
pub const VARIABLE_ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// Where the runtime keeps its key-value data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateDir {
    /// A fresh directory under the system's temporary directory, removed when the
    /// [`LocalRuntime`] is dropped.
    Fresh,
    /// This directory (created if missing, never removed).
    At(PathBuf),
}

/// How to start the local runtime.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The `booking-host` binary.
    pub host_bin: PathBuf,
    /// The Spin manifest to serve; the runtime runs in its directory.
    pub manifest: PathBuf,
    /// The listen address (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Where the default SQLite store lives (ignored with `in_memory`).
    pub state_dir: StateDir,
    /// `--in-memory`: every store in memory (no disk at all).
    pub in_memory: bool,
    /// `--sqlite-wal`: faster, not Spin's default.
    pub sqlite_wal: bool,
    /// `--shed-load`: a problem+json 503 instead of Spin's empty 500 when every instance slot
    /// is busy; not Spin's behaviour.
    pub shed_load: bool,
    /// `--kv-calls-endpoint`: `GET` [`KV_CALLS_PATH`] answers the key-value calls counted so
    /// far (the path no longer reaches the application).
    pub kv_calls_endpoint: bool,
    /// Application variables by name (`admin_token`), passed as `SPIN_VARIABLE_<NAME>`.
    ///
    /// A variable the manifest does not declare is ignored by the runtime, as by Spin.
    pub variables: BTreeMap<String, String>,
    /// Other environment variables for the runtime, by their full name (for example Spin's
    /// pool size, `SPIN_MAX_INSTANCE_COUNT`).
    pub env: BTreeMap<String, String>,
    /// How long to wait for the `Serving` line.
    pub startup_timeout: Duration,
}

impl RuntimeOptions {
    /// The given binary serving the given manifest, with every other option at its default:
    /// a free port on 127.0.0.1, a fresh state directory, Spin's SQLite settings, no variables.
    pub fn new(host_bin: impl Into<PathBuf>, manifest: impl Into<PathBuf>) -> Self {
        Self {
            host_bin: host_bin.into(),
            manifest: manifest.into(),
            listen: "127.0.0.1:0".to_owned(),
            state_dir: StateDir::Fresh,
            in_memory: false,
            sqlite_wal: false,
            shed_load: false,
            kv_calls_endpoint: false,
            variables: BTreeMap::new(),
            env: BTreeMap::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
        }
    }

    /// The workspace's release build of the runtime ([`default_host_bin`]) serving the
    /// workspace's `spin.toml`, as `scripts/test` builds them.
    pub fn for_workspace() -> Self {
        let workspace = workspace_dir();
        Self::new(default_host_bin(&workspace), workspace.join("spin.toml"))
    }

    /// Sets an application variable (by its manifest name, e.g. `confirm_token`).
    pub fn variable(mut self, name: &str, value: impl Into<String>) -> Self {
        self.variables.insert(name.to_owned(), value.into());
        self
    }

    /// The command line, for messages.
    fn describe(&self, state_dir: Option<&Path>) -> String {
        let mut text = format!(
            "{} up --exit-on-stdin-eof --from {} --listen {}",
            self.host_bin.display(),
            self.manifest.display(),
            self.listen
        );
        if let Some(dir) = state_dir {
            text.push_str(&format!(" --state-dir {}", dir.display()));
        }
        for (flag, on) in [
            ("--in-memory", self.in_memory),
            ("--sqlite-wal", self.sqlite_wal),
            ("--shed-load", self.shed_load),
            ("--kv-calls-endpoint", self.kv_calls_endpoint),
        ] {
            if on {
                text.push(' ');
                text.push_str(flag);
            }
        }
        text
    }
}

/// The workspace root (two levels above this crate's folder, `tests/host/spawn`).
pub fn workspace_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The runtime binary: `$BOOKING_HOST_BIN` if set, else `<target>/release/booking-host`,
/// where `<target>` is `$CARGO_TARGET_DIR` (relative to the workspace) or `target`.
pub fn default_host_bin(workspace: &Path) -> PathBuf {
    if let Some(bin) = std::env::var_os("BOOKING_HOST_BIN").filter(|bin| !bin.is_empty()) {
        return PathBuf::from(bin);
    }
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace.join(dir)
            }
        }
        None => workspace.join("target"),
    };
    target_dir.join("release").join("booking-host")
}

/// Why the runtime could not be started; the message carries the command line and what the
/// runtime printed.
#[derive(Debug, Clone)]
pub struct StartError(String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A running `booking-host up`. Dropping it stops the runtime (closing its stdin, killing it
/// after a grace period) and removes a state directory it made.
pub struct LocalRuntime {
    child: Child,
    stdin: Option<ChildStdin>,
    base_url: String,
    /// A state directory this value made, removed on drop.
    owned_state_dir: Option<PathBuf>,
    stderr_tail: Arc<Mutex<String>>,
    /// Receives once the runtime's standard error reached its end.
    stderr_done: mpsc::Receiver<()>,
}

impl fmt::Debug for LocalRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRuntime")
            .field("base_url", &self.base_url)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl LocalRuntime {
    /// Starts the runtime and waits for its `Serving http://ADDRESS` line.
    pub fn start(options: &RuntimeOptions) -> Result<Self, StartError> {
        if !options.host_bin.is_file() {
            return Err(StartError(format!(
                "booking-host binary not found at {}: run `scripts/test` (it builds the \
                 components and the runtime) or `cargo build --release -p booking-host`, or set \
                 BOOKING_HOST_BIN",
                options.host_bin.display()
            )));
        }
        let (state_dir, owned_state_dir) = match (&options.state_dir, options.in_memory) {
            (_, true) => (None, None),
            (StateDir::At(dir), false) => (Some(dir.clone()), None),
            (StateDir::Fresh, false) => {
                let dir = fresh_state_dir();
                (Some(dir.clone()), Some(dir))
            }
        };
        if let Some(dir) = &state_dir {
            std::fs::create_dir_all(dir)
                .map_err(|error| StartError(format!("cannot create {}: {error}", dir.display())))?;
        }
        let described = options.describe(state_dir.as_deref());
        let remove_owned = |dir: &Option<PathBuf>| {
            if let Some(dir) = dir {
                let _ = std::fs::remove_dir_all(dir);
            }
        };

        let mut command = Command::new(&options.host_bin);
        command
            .args(["up", "--exit-on-stdin-eof", "--from"])
            .arg(&options.manifest)
            .arg("--listen")
            .arg(&options.listen);
        if let Some(dir) = &state_dir {
            command.arg("--state-dir").arg(dir);
        }
        if options.in_memory {
            command.arg("--in-memory");
        }
        if options.sqlite_wal {
            command.arg("--sqlite-wal");
        }
        if options.shed_load {
            command.arg("--shed-load");
        }
        if options.kv_calls_endpoint {
            command.arg("--kv-calls-endpoint");
        }
        for (name, _) in std::env::vars_os() {
            if name
                .to_str()
                .is_some_and(|name| name.starts_with(VARIABLE_ENV_PREFIX))
            {
                command.env_remove(&name);
            }
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        for (name, value) in &options.variables {
            command.env(variable_env_name(name), value);
        }
        if let Some(dir) = options
            .manifest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            command.current_dir(dir);
        }
        let mut child = match command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                remove_owned(&owned_state_dir);
                return Err(StartError(format!("cannot start `{described}`: {error}")));
            }
        };
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            remove_owned(&owned_state_dir);
            return Err(StartError(format!(
                "`{described}`: the standard streams were not piped"
            )));
        };

        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let stderr_done = {
            let tail = Arc::clone(&stderr_tail);
            let (done_tx, done_rx) = mpsc::channel::<()>();
            thread::spawn(move || {
                keep_tail(stderr, &tail);
                let _ = done_tx.send(());
            });
            done_rx
        };
        let (line_tx, line_rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            // Keep draining after the Serving line so the runtime never blocks on a full
            // stdout pipe; sends fail silently once nobody listens.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = line_tx.send(line);
            }
        });

        let deadline = Instant::now() + options.startup_timeout;
        let mut seen = Vec::new();
        let failure = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match line_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix("Serving ") {
                        return Ok(Self {
                            child,
                            stdin: Some(stdin),
                            base_url: url.trim().trim_end_matches('/').to_owned(),
                            owned_state_dir,
                            stderr_tail,
                            stderr_done,
                        });
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    break format!(
                        "booking-host printed no `Serving http://...` line within {} s",
                        options.startup_timeout.as_secs()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break "booking-host exited before serving".to_owned();
                }
            }
        };
        // Stop it and collect what it said.
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
        let _ = stderr_done.recv_timeout(Duration::from_secs(5));
        remove_owned(&owned_state_dir);
        let stderr_text = stderr_tail.lock().map(|s| s.clone()).unwrap_or_default();
        Err(StartError(format!(
            "{failure}\ncommand: {described}\n--- stdout ---\n{}\n--- stderr ---\n{stderr_text}",
            seen.join("\n"),
        )))
    }

    /// The base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The runtime's process id (for example for its peak memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last 64 KiB the runtime wrote to standard error.
    pub fn stderr_tail(&self) -> String {
        self.stderr_tail
            .lock()
            .map(|tail| tail.clone())
            .unwrap_or_default()
    }

    /// Stops the runtime as dropping it does, and returns the last 64 KiB of its standard
    /// error, read to the end: it ends with the runtime's `kv-calls: ...` line
    /// ([`KvCalls::last_in`] finds it), unless the runtime had to be killed.
    pub fn stop(mut self) -> String {
        self.stop_child();
        // The reader thread ends at the pipe's end-of-file, just after the runtime exits.
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(5));
        self.stderr_tail()
    }

    /// Closes the runtime's stdin, waits for it to exit (killing it after [`STOP_GRACE`]) and
    /// removes a state directory this value made; does nothing the second time.
    fn stop_child(&mut self) {
        // Closing its stdin stops the runtime (`--exit-on-stdin-eof`).
        drop(self.stdin.take());
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
            }
        }
        if let Some(dir) = self.owned_state_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        self.stop_child();
    }
}

/// `SPIN_VARIABLE_<NAME>` for a variable name, as Spin's environment provider spells it.
pub fn variable_env_name(name: &str) -> OsString {
    format!("{VARIABLE_ENV_PREFIX}{}", name.to_ascii_uppercase()).into()
}

/// A new directory name under the temporary directory, unique to this process and moment.
fn fresh_state_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!(
        "booking-host-state-{}-{nanos:08x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A suffix unique to this process and moment, for temporary names.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{nanos:08x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Reads `from` to its end, keeping the last [`STDERR_TAIL_BYTES`] in `tail`.
fn keep_tail(from: impl Read, tail: &Mutex<String>) {
    let mut reader = BufReader::new(from);
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut text) = tail.lock() {
                    text.push_str(&String::from_utf8_lossy(&buffer[..n]));
                    if text.len() > 2 * STDERR_TAIL_BYTES {
                        let mut cut = text.len() - STDERR_TAIL_BYTES;
                        while !text.is_char_boundary(cut) {
                            cut += 1;
                        }
                        text.drain(..cut);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_spelled_as_spin_reads_them() {
        assert_eq!(
            variable_env_name("confirm_token"),
            OsString::from("SPIN_VARIABLE_CONFIRM_TOKEN")
        );
    }

    #[test]
    fn a_missing_binary_is_reported_without_starting_anything() {
        let options = RuntimeOptions::new("/nonexistent/booking-host", "spin.toml");
        let error = LocalRuntime::start(&options)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("/nonexistent/booking-host"), "{error}");
        assert!(error.contains("BOOKING_HOST_BIN"), "{error}");
    }

    #[test]
    fn the_command_line_lists_every_flag() {
        let mut options = RuntimeOptions::new("bin", "spin.toml");
        options.shed_load = true;
        options.sqlite_wal = true;
        options.kv_calls_endpoint = true;
        let text = options.describe(Some(Path::new("/s")));
        assert!(
            text.ends_with("--state-dir /s --sqlite-wal --shed-load --kv-calls-endpoint"),
            "{text}"
        );
    }
}
