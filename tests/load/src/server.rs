//! Starts the local runtime (`booking-host up`) for a run, on a fresh SQLite
//! state directory, and stops it when the run ends — also when booking-load
//! dies, so no runtime outlives it. The start-up itself is the helper the e2e
//! suite shares (`booking_host_spawn`); this adds the run's tokens.

use std::path::PathBuf;

use anyhow::bail;
use booking_host_spawn::{KvCalls, StateDir};

use crate::client;

/// How to start the local runtime.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub host_bin: PathBuf,
    pub manifest: PathBuf,
    /// `--sqlite-wal`: faster, not Spin's default; only for labelled extra runs.
    pub sqlite_wal: bool,
    /// `--in-memory`: no disk at all; isolates compute from storage (labelled runs only).
    pub in_memory: bool,
    /// `--shed-load`: a problem+json 503 instead of Spin's empty 500 when the
    /// instance pool is full; NOT Spin's behaviour (labelled runs only).
    pub shed_load: bool,
}

impl RuntimeOptions {
    /// The workspace's release build and `spin.toml`, as `scripts/test` builds them.
    pub fn from_workspace() -> Self {
        let spawn = booking_host_spawn::RuntimeOptions::for_workspace();
        Self {
            host_bin: spawn.host_bin,
            manifest: spawn.manifest,
            sqlite_wal: false,
            in_memory: false,
            shed_load: false,
        }
    }
}

/// A running `booking-host`; dropping it stops the runtime and removes its state.
pub struct LocalRuntime {
    /// `None` once [`LocalRuntime::stop`] took it.
    runtime: Option<booking_host_spawn::LocalRuntime>,
    pub base_url: String,
    pub admin_token: String,
    /// The app's `confirm_token` for this runtime; the [`client::Recorder`]
    /// for `base_url` sends it on confirms.
    pub confirm_token: String,
    /// The runtime process, for its peak memory.
    pub pid: u32,
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
        let confirm_token = format!(
            "load-confirm-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let mut spawn =
            booking_host_spawn::RuntimeOptions::new(&options.host_bin, &options.manifest)
                // Passed whether or not the manifest declares `confirm_token` yet:
                // the runtime, like Spin, ignores an undeclared variable.
                .variable("admin_token", &admin_token)
                .variable("confirm_token", &confirm_token);
        spawn.state_dir = StateDir::Fresh;
        spawn.sqlite_wal = options.sqlite_wal;
        spawn.in_memory = options.in_memory;
        spawn.shed_load = options.shed_load;
        // Counts are read between the phases of a run (`RunConfig::kv_calls`).
        spawn.kv_calls_endpoint = true;
        let runtime = booking_host_spawn::LocalRuntime::start(&spawn)?;
        let base_url = runtime.base_url().to_owned();
        client::register_confirm_token(&base_url, &confirm_token);
        Ok(Self {
            pid: runtime.pid(),
            runtime: Some(runtime),
            base_url,
            admin_token,
            confirm_token,
        })
    }

    /// The last few KiB the runtime wrote to stderr (evidence for 5xx answers).
    pub fn stderr_tail(&self) -> String {
        self.runtime
            .as_ref()
            .map(booking_host_spawn::LocalRuntime::stderr_tail)
            .unwrap_or_default()
    }

    /// Stops the runtime and returns the `kv-calls: ...` line it printed as it stopped
    /// (`None` if it printed none, e.g. it had to be killed).
    pub fn stop(mut self) -> Option<String> {
        let stderr = self.runtime.take()?.stop();
        KvCalls::last_in(&stderr).map(|calls| calls.to_string())
    }
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        client::forget_confirm_token(&self.base_url);
        // Dropping `runtime` then closes its stdin (`--exit-on-stdin-eof`),
        // waits for it, and removes its state directory.
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
