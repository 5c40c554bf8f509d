//! Process faults: the server is killed with SIGKILL at seeded random moments
//! during a run and started again on the same state directory and port, so the
//! checker can prove that nothing it acknowledged was lost.
//!
//! The server runs in its own process group, and the whole group is killed:
//! `spin up` serves from a child process (`spin trigger http`), which must die
//! with it, as it would when a machine loses power.

use std::{
    ffi::OsString,
    fs::File,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::log::KillWindow;

/// How long a (re)started server may take to answer its health check:
/// booking-host compiles the components at every start, which takes seconds
/// on a busy 2-core machine.
const STARTUP_TIMEOUT_MS: u64 = 120_000;
/// How often the port is polled while the server starts or goes away.
const HEALTH_POLL_MS: u64 = 20;
/// A health check that takes longer than this is tried again.
const HEALTH_TIMEOUT_MS: u64 = 500;
/// How long a killed server's port may stay taken (by a child that is still
/// dying) before it is started again anyway.
const PORT_RELEASE_TIMEOUT_MS: u64 = 10_000;
/// Attempts to start the server again when it exits before serving (the
/// killed process may still hold the port for a moment).
const START_ATTEMPTS: u32 = 3;
/// Spin's health route, also served by booking-host.
const HEALTH_PATH: &str = "/.well-known/spin/health";

/// How to run the server; every start uses the same command, so the same
/// state directory and port.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Added to the environment of this process.
    pub env: Vec<(String, String)>,
    /// Where the server answers (`http://127.0.0.1:PORT`).
    pub base_url: String,
    /// The server's stdout and stderr, appended over every start.
    pub log_path: PathBuf,
    /// Hold the server's stdin open (booking-host `--exit-on-stdin-eof`), so
    /// it dies with this process however this process ends.
    pub hold_stdin: bool,
}

impl ServerSpec {
    /// `sh -c COMMAND` (e.g. a `spin up` command line).
    pub fn shell(command: &str, base_url: &str, log_path: PathBuf) -> Self {
        Self {
            program: PathBuf::from("sh"),
            args: vec!["-c".into(), command.into()],
            env: Vec::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            log_path,
            hold_stdin: false,
        }
    }
}

/// When to kill: `kills` times, each after the server has served for a gap
/// drawn uniformly from `gap_ms` (seeded).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct KillPlan {
    pub kills: u32,
    pub seed: u64,
    pub gap_min_ms: u64,
    pub gap_max_ms: u64,
}

/// A server this process started, in its own process group.
pub struct ServerProcess {
    spec: ServerSpec,
    child: Option<Child>,
    /// Kept open for `hold_stdin`; dropped with the process.
    stdin: Option<ChildStdin>,
    health: reqwest::Client,
}

impl std::fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerProcess")
            .field("base_url", &self.spec.base_url)
            .field("pid", &self.pid())
            .finish()
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ServerProcess {
    /// Starts the server and waits until it answers its health check.
    pub async fn start(spec: ServerSpec) -> anyhow::Result<Self> {
        let health = reqwest::Client::builder()
            .timeout(Duration::from_millis(HEALTH_TIMEOUT_MS))
            .build()?;
        let mut server = Self {
            spec,
            child: None,
            stdin: None,
            health,
        };
        server.start_serving().await?;
        Ok(server)
    }

    pub fn base_url(&self) -> &str {
        &self.spec.base_url
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Spawns the command and waits for it to serve; tries again if it exits
    /// first. Returns when it served (Unix ms).
    async fn start_serving(&mut self) -> anyhow::Result<u64> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            self.spawn()?;
            match self.wait_serving().await {
                Ok(serving_unix_ms) => return Ok(serving_unix_ms),
                Err(error) => {
                    self.kill_group();
                    last_error = Some(error);
                    self.wait_port_released().await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the server did not start")))
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.spec.log_path)
            .with_context(|| format!("open {}", self.spec.log_path.display()))?;
        let mut command = Command::new(&self.spec.program);
        command
            .args(&self.spec.args)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.spec.hold_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own group, so the kill reaches every process it starts.
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("start {}", self.spec.program.display()))?;
        self.stdin = child.stdin.take();
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the server accepts connections (from then on a request
    /// is answered, if late: the kill window ends there, however busy the
    /// server is), then until it answers its health check. Returns when it
    /// first accepted a connection (Unix ms).
    async fn wait_serving(&mut self) -> anyhow::Result<u64> {
        let deadline = Instant::now() + Duration::from_millis(STARTUP_TIMEOUT_MS);
        let url = format!("{}{HEALTH_PATH}", self.spec.base_url);
        let mut accepting_unix_ms = None;
        loop {
            if accepting_unix_ms.is_none() && self.accepts_connections().await {
                accepting_unix_ms = Some(unix_ms());
            }
            if let Some(accepting) = accepting_unix_ms
                && let Ok(response) = self.health.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(accepting);
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "the server exited ({status}) before serving; its output is in {}",
                    self.spec.log_path.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the server did not answer {url} within {STARTUP_TIMEOUT_MS} ms; its output is in {}",
                    self.spec.log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(HEALTH_POLL_MS)).await;
        }
    }

    /// Whether something listens on the server's address.
    async fn accepts_connections(&self) -> bool {
        let Some(address) = self
            .spec
            .base_url
            .split("://")
            .nth(1)
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
        else {
            return false;
        };
        let connect = tokio::net::TcpStream::connect(address);
        matches!(
            tokio::time::timeout(Duration::from_millis(HEALTH_TIMEOUT_MS), connect).await,
            Ok(Ok(_))
        )
    }

    /// Waits until nothing listens on the server's port any more (a child of
    /// the killed group may still hold it for a moment).
    async fn wait_port_released(&self) {
        let deadline = Instant::now() + Duration::from_millis(PORT_RELEASE_TIMEOUT_MS);
        while self.accepts_connections().await && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(HEALTH_POLL_MS)).await;
        }
    }

    /// SIGKILL to the whole process group, then reaps the leader.
    fn kill_group(&mut self) {
        self.stdin = None;
        let Some(mut child) = self.child.take() else {
            return;
        };
        // kill(1) signals the group (a negative pid) without unsafe code or a
        // new dependency; its failure means the group is already gone.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills the server and starts it again: the window from the kill to the
    /// moment it served again.
    pub async fn kill_and_restart(&mut self) -> anyhow::Result<KillWindow> {
        let kill_unix_ms = unix_ms();
        self.kill_group();
        self.wait_port_released().await;
        let serving_unix_ms = self.start_serving().await?;
        Ok(KillWindow {
            kill_unix_ms,
            serving_unix_ms,
        })
    }

    /// Stops the server (SIGKILL: the store is durable, nothing to flush).
    pub fn stop(mut self) {
        self.kill_group();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// Kills and restarts `server` as `plan` says until it has killed
/// `plan.kills` times or `stop` is set; returns the windows and the server
/// (serving). An error (a restart that failed) ends the run.
pub async fn kill_loop(
    mut server: ServerProcess,
    plan: KillPlan,
    stop: Arc<AtomicBool>,
) -> (ServerProcess, Vec<KillWindow>, Option<anyhow::Error>) {
    let mut rng = fastrand::Rng::with_seed(plan.seed ^ 0x6B69_6C6C);
    let mut windows = Vec::new();
    let (low, high) = (
        plan.gap_min_ms,
        plan.gap_max_ms.max(plan.gap_min_ms.saturating_add(1)),
    );
    while windows.len() < plan.kills as usize {
        let gap = Duration::from_millis(rng.u64(low..high));
        let waited = Instant::now();
        while waited.elapsed() < gap {
            if stop.load(Ordering::Relaxed) {
                return (server, windows, None);
            }
            tokio::time::sleep(Duration::from_millis(HEALTH_POLL_MS)).await;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match server.kill_and_restart().await {
            Ok(window) => windows.push(window),
            Err(error) => return (server, windows, Some(error)),
        }
    }
    (server, windows, None)
}

/// A free port on 127.0.0.1 (bound, read and released: the server binds it
/// again at every start).
pub fn free_local_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
