//! Starts the local runtime (`booking-host up`) for a run, on a fresh SQLite
//! state directory, and stops it when the run ends — also when booking-load
//! dies, so no runtime outlives it.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// Compiling the five components can take a while on a cold cache.
const STARTUP_TIMEOUT_SECONDS: u64 = 120;

/// How to start the local runtime.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub host_bin: PathBuf,
    pub manifest: PathBuf,
    /// `--sqlite-wal`: faster, not Spin's default; only for labelled extra runs.
    pub sqlite_wal: bool,
    /// `--in-memory`: no disk at all; isolates compute from storage (labelled runs only).
    pub in_memory: bool,
}

impl RuntimeOptions {
    /// The workspace's release build and `spin.toml`, as `scripts/test` builds them.
    pub fn from_workspace() -> Self {
        let workspace = workspace_dir();
        let host_bin = match std::env::var("BOOKING_HOST_BIN") {
            Ok(bin) if !bin.is_empty() => PathBuf::from(bin),
            _ => target_dir(&workspace).join("release").join("booking-host"),
        };
        Self {
            host_bin,
            manifest: workspace.join("spin.toml"),
            sqlite_wal: false,
            in_memory: false,
        }
    }
}

/// A running `booking-host`; dropping it stops the runtime and removes its state.
pub struct LocalRuntime {
    child: Child,
    stdin: Option<ChildStdin>,
    pub base_url: String,
    pub admin_token: String,
    /// The runtime process, for its peak memory.
    pub pid: u32,
    state_dir: PathBuf,
    stderr_tail: Arc<Mutex<String>>,
}

impl std::fmt::Debug for LocalRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRuntime")
            .field("base_url", &self.base_url)
            .field("pid", &self.pid)
            .finish()
    }
}

impl LocalRuntime {
    pub fn start(options: &RuntimeOptions) -> anyhow::Result<Self> {
        if !options.host_bin.is_file() {
            bail!(
                "booking-host not found at {}: run scripts/test (or build the components and \
                 `cargo build --release -p booking-host`), set BOOKING_HOST_BIN, or pass --base-url",
                options.host_bin.display()
            );
        }
        let admin_token = format!("load-{:016x}", fastrand::u64(..));
        let state_dir = std::env::temp_dir().join(format!(
            "booking-load-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("create {}", state_dir.display()))?;
        let workdir = options
            .manifest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        // `--exit-on-stdin-eof`: the runtime stops when booking-load's end of
        // its stdin pipe closes, however booking-load exits, so no runtime
        // outlives it.
        let mut command = Command::new(&options.host_bin);
        command
            .args(["up", "--exit-on-stdin-eof", "--from"])
            .arg(&options.manifest)
            .args(["--listen", "127.0.0.1:0"]);
        if !options.in_memory {
            command.arg("--state-dir").arg(&state_dir);
        }
        if options.sqlite_wal {
            command.arg("--sqlite-wal");
        }
        if options.in_memory {
            command.arg("--in-memory");
        }
        let mut child = command
            .env("SPIN_VARIABLE_ADMIN_TOKEN", &admin_token)
            .current_dir(workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("start booking-host")?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("stdout is piped")?;
        let stderr = child.stderr.take().context("stderr is piped")?;

        let stderr_text = Arc::new(Mutex::new(String::new()));
        {
            let text = Arc::clone(&stderr_text);
            thread::spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut buf = [0u8; 4096];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut t) = text.lock() {
                        // Keep only the tail: the runtime may log for minutes.
                        t.push_str(&String::from_utf8_lossy(&buf[..n]));
                        if t.len() > 64 * 1024 {
                            let cut = t.len() - 32 * 1024;
                            let cut = (cut..t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(0);
                            t.drain(..cut);
                        }
                    }
                }
            });
        }
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            // Drain stdout for the runtime's whole life so it never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });

        let deadline = Instant::now() + Duration::from_secs(STARTUP_TIMEOUT_SECONDS);
        let mut base_url = None;
        while base_url.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("Serving ") {
                        base_url = Some(url.trim().trim_end_matches('/').to_owned());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = stderr_text.lock().map(|t| t.clone()).unwrap_or_default();
                    let _ = std::fs::remove_dir_all(&state_dir);
                    bail!("booking-host did not start (no `Serving` line); its stderr:\n{log}");
                }
            }
        }
        let Some(base_url) = base_url else {
            bail!("unreachable: the loop ends only with a base URL");
        };
        Ok(Self {
            child,
            stdin,
            base_url,
            admin_token,
            pid,
            state_dir,
            stderr_tail: stderr_text,
        })
    }
}

impl LocalRuntime {
    /// The last few KiB the runtime wrote to stderr (evidence for 5xx answers).
    pub fn stderr_tail(&self) -> String {
        self.stderr_tail
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
    }
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        // Closing its stdin stops the runtime (`--exit-on-stdin-eof`).
        drop(self.stdin.take());
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// Peak resident memory (VmHWM) of a process, in KiB, from /proc.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn workspace_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn target_dir(workspace: &Path) -> PathBuf {
    match std::env::var("CARGO_TARGET_DIR") {
        Ok(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace.join(dir)
            }
        }
        _ => workspace.join("target"),
    }
}
