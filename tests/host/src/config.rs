//! Command-line options, [`HostConfig`], and Spin's runtime-config file for key-value stores.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

/// The address `spin up` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
/// The manifest file `spin up` reads by default.
pub const DEFAULT_MANIFEST: &str = "spin.toml";
/// The state directory Spin uses next to the manifest.
pub const DEFAULT_STATE_DIR_NAME: &str = ".spin";

/// Serves this project's Spin components without Spin: same manifest, same key-value semantics.
#[derive(Debug, Parser)]
#[command(name = "booking-host", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands (only `up`, mirroring `spin up`).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the application described by a Spin manifest, like `spin up`.
    ///
    /// Prints exactly one line, `Serving http://ADDRESS`, to standard output once it listens;
    /// everything else (settings, errors) goes to standard error.
    Up(UpArgs),
}

/// Options of `booking-host up`.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// The Spin manifest to serve; component sources are relative to its directory.
    #[arg(short = 'f', long = "from", value_name = "SPIN_TOML", default_value = DEFAULT_MANIFEST)]
    pub from: PathBuf,

    /// The address to listen on; use port 0 to pick a free port.
    #[arg(long, value_name = "ADDRESS", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// A Spin runtime-config file; only `[key_value_store.LABEL]` tables of `type = "spin"`
    /// (SQLite, optional `path` relative to this file) are supported.
    #[arg(long, value_name = "FILE")]
    pub runtime_config_file: Option<PathBuf>,

    /// Where the default key-value database (`sqlite_key_value.db`) lives; defaults to `.spin`
    /// next to the manifest and is created if missing.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Keep the default key-value store in memory (same semantics, nothing written to disk).
    #[arg(long)]
    pub in_memory: bool,

    /// Use SQLite WAL with synchronous=NORMAL instead of Spin's defaults (rollback journal
    /// DELETE, synchronous=FULL): faster, but not what Spin does.
    #[arg(long)]
    pub sqlite_wal: bool,

    /// Exit when standard input closes: a parent (a test harness, a load generator) keeps
    /// the pipe open and the runtime stops with it, however the parent ends.
    #[arg(long)]
    pub exit_on_stdin_eof: bool,

    /// Shed load instead of failing: admit at most 90% of the instance pool's size at once and
    /// answer the rest with a problem+json 503 and `Retry-After: 1` (with the app's
    /// `cors_origin` variable as `Access-Control-Allow-Origin`). NOT Spin's behaviour: Spin
    /// answers an empty 500 when its instance pool is exhausted, as this runtime does without
    /// the flag.
    #[arg(long)]
    pub shed_load: bool,

    /// Answer `GET /.well-known/booking-host/kv-calls` with the key-value calls the components
    /// made so far (the `kv-calls: ...` line printed at exit, then one line per store), for
    /// benchmarks; without it the path goes to the application, as on Spin.
    #[arg(long)]
    pub kv_calls_endpoint: bool,

    /// Bound every SQLite store call's waits to this many milliseconds: for the store's one
    /// connection (queued behind other calls) and for SQLite's own lock (busy timeout), then
    /// fail the call (the app answers 503 with Retry-After). NOT Spin's behaviour: Spin waits
    /// for its connection without limit and for a locked database 5 s (rusqlite's default), so
    /// under a locked or slow disk the k-th queued request answers after up to k x 5 s.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub store_wait_ms: Option<u64>,
}

/// Everything needed to start serving.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The Spin manifest.
    pub manifest: PathBuf,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// An optional Spin runtime-config file.
    pub runtime_config_file: Option<PathBuf>,
    /// The state directory; `None` means `.spin` next to the manifest.
    pub state_dir: Option<PathBuf>,
    /// Keep the default store in memory.
    pub in_memory: bool,
    /// Use WAL and synchronous=NORMAL for SQLite stores.
    pub sqlite_wal: bool,
    /// Stop serving when standard input reaches end-of-file.
    pub exit_on_stdin_eof: bool,
    /// Shed load with a 503 when every instance slot is busy (not Spin's behaviour).
    pub shed_load: bool,
    /// Answer the key-value call counts at `/.well-known/booking-host/kv-calls`.
    pub kv_calls_endpoint: bool,
    /// Bound on a SQLite store call's waits, ms (not Spin's behaviour); `None`: Spin's.
    pub store_wait_ms: Option<u64>,
    /// Read application variables from this map instead of the process environment
    /// (`SPIN_VARIABLE_*` names); `None` means the process environment.
    pub env_override: Option<BTreeMap<String, String>>,
}

impl HostConfig {
    /// Parses a full command line (`booking-host up ...`), as the binary does.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        let Command::Up(up) = cli.command;
        Ok(Self::from(up))
    }

    /// A configuration for a manifest with every other option at its default.
    pub fn for_manifest(manifest: impl Into<PathBuf>) -> Self {
        Self::from(UpArgs {
            from: manifest.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            runtime_config_file: None,
            state_dir: None,
            in_memory: false,
            sqlite_wal: false,
            exit_on_stdin_eof: false,
            shed_load: false,
            kv_calls_endpoint: false,
            store_wait_ms: None,
        })
    }

    /// Looks up an application variable's environment value.
    pub(crate) fn env_value(&self, name: &str) -> Option<String> {
        match &self.env_override {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
}

impl From<UpArgs> for HostConfig {
    fn from(up: UpArgs) -> Self {
        Self {
            manifest: up.from,
            listen: up.listen,
            runtime_config_file: up.runtime_config_file,
            state_dir: up.state_dir,
            in_memory: up.in_memory,
            sqlite_wal: up.sqlite_wal,
            exit_on_stdin_eof: up.exit_on_stdin_eof,
            shed_load: up.shed_load,
            kv_calls_endpoint: up.kv_calls_endpoint,
            store_wait_ms: up.store_wait_ms,
            env_override: None,
        }
    }
}

/// Where one store label keeps its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A SQLite database in memory (Spin's `type = "spin"` without `path`).
    SqliteInMemory,
    /// The in-memory backend (`--in-memory`).
    Memory,
}

#[derive(Debug, Deserialize)]
struct RawRuntimeConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStoreConfig>,
}

#[derive(Debug, Deserialize)]
struct RawStoreConfig {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
}

/// Reads the `[key_value_store.*]` tables of a Spin runtime-config file.
pub fn load_runtime_config(path: &Path) -> anyhow::Result<BTreeMap<String, StoreLocation>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the runtime config file {shown}"))?;
    let raw: RawRuntimeConfig = toml::from_str(&text).map_err(|error| {
        anyhow::anyhow!("malformed runtime config file {shown}; fix this TOML error:\n{error}")
    })?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let mut stores = BTreeMap::new();
    for (label, store) in raw.key_value_store {
        if store.kind != "spin" {
            bail!(
                "{shown}: [key_value_store.{label}] has type = {:?}, which booking-host does \
                 not support; use type = \"spin\" (SQLite) with an optional path",
                store.kind
            );
        }
        let location = match store.path {
            Some(file) if file.is_absolute() => StoreLocation::Sqlite(file),
            Some(file) => StoreLocation::Sqlite(base.join(file)),
            None => StoreLocation::SqliteInMemory,
        };
        stores.insert(label, location);
    }
    Ok(stores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_up_command() -> anyhow::Result<()> {
        let config = HostConfig::from_args([
            "booking-host",
            "up",
            "--from",
            "x/spin.toml",
            "--listen",
            "127.0.0.1:0",
            "--in-memory",
            "--sqlite-wal",
            "--shed-load",
        ])?;
        assert_eq!(config.manifest, Path::new("x/spin.toml"));
        assert_eq!(config.listen.port(), 0);
        assert!(config.in_memory && config.sqlite_wal && config.shed_load);
        let defaults = HostConfig::from_args(["booking-host", "up"])?;
        // Spin's behaviour unless asked otherwise.
        assert!(!defaults.shed_load && !defaults.sqlite_wal && !defaults.in_memory);
        assert_eq!(defaults.manifest, Path::new(DEFAULT_MANIFEST));
        assert_eq!(defaults.listen.to_string(), DEFAULT_LISTEN);
        Ok(())
    }

    #[test]
    fn runtime_config_paths_are_relative_to_the_file() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("booking-host-rc-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("runtime-config.toml");
        std::fs::write(
            &file,
            "[key_value_store.default]\ntype = \"spin\"\npath = \"data/x.db\"\n\
             [key_value_store.scratch]\ntype = \"spin\"\n",
        )?;
        let stores = load_runtime_config(&file)?;
        assert_eq!(
            stores.get("default"),
            Some(&StoreLocation::Sqlite(dir.join("data/x.db")))
        );
        assert_eq!(stores.get("scratch"), Some(&StoreLocation::SqliteInMemory));
        std::fs::write(&file, "[key_value_store.default]\ntype = \"redis\"\n")?;
        let error = load_runtime_config(&file).err().map(|e| e.to_string());
        assert!(error.unwrap_or_default().contains("type = \"spin\""));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
