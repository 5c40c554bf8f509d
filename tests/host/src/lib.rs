//! `booking-host`: a small local runtime that serves this project's Spin components without
//! Spin, on the wasmtime engine that Spin embeds, with the same key-value semantics.
//!
//! Module map:
//! - [`config`]: the `booking-host up` command line, [`HostConfig`], and Spin runtime-config
//!   files (`[key_value_store.LABEL]`).
//! - [`manifest`]: reading and validating `spin.toml` (manifest v2): variables, HTTP triggers,
//!   components, variable templates.
//! - [`routes`]: Spin's routing rules (`:name` segments, trailing `/...`, most specific wins).
//! - [`kv`]: the key-value store with Spin's default-store semantics, behind a [`kv::Backend`]
//!   trait with a SQLite and an in-memory implementation.
//! - [`bindings`]: `wasi:keyvalue@0.2.0-draft2` and `fermyon:spin/variables@2.0.0` host
//!   implementations, generated from `wit/`.
//! - [`runtime`]: engine (spin-core's settings and instance pool), linker, pre-instantiation
//!   and running one request in a fresh instance.
//! - [`server`]: hyper HTTP/1.1 serving, Spin's request URI and headers, 404 and 500 answers,
//!   and the opt-in load shedding (`--shed-load`).
//! - [`spawn`]: starting `booking-host up` as a child process, for test harnesses (the
//!   `booking-host-spawn` crate, which needs only the standard library).
//!
//! [`serve`] does all validation before it binds the listener, so configuration errors never
//! leave a half-started server behind.

pub mod bindings;
pub mod config;
pub mod kv;
pub mod manifest;
pub mod redis;
pub mod routes;
pub mod runtime;
pub mod server;

pub use booking_host_spawn as spawn;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::HostConfig;
use config::{DEFAULT_STATE_DIR_NAME, StoreLocation};
use kv::{MemoryBackend, SqliteBackend, SqliteSettings, Store, Stores};
use manifest::Manifest;
use routes::Router;
use runtime::PreparedComponent;

/// The store label every Spin application gets without configuration.
pub const DEFAULT_STORE_LABEL: &str = "default";

/// A running server.
#[derive(Debug)]
pub struct ServingHost {
    local_addr: SocketAddr,
    accept_task: JoinHandle<()>,
    startup: Duration,
    stores: Arc<Stores>,
}

impl ServingHost {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL, `http://ADDRESS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// How long validation, store opening and component preparation took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The served stores, whose [`Stores::calls`] count the components' key-value calls.
    pub fn stores(&self) -> Arc<Stores> {
        Arc::clone(&self.stores)
    }

    /// Serves until the accept loop ends (it only ends if the task is cancelled or panics).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.accept_task.await.context("the accept loop stopped")
    }

    /// Stops accepting new connections; requests in flight finish on their own tasks.
    pub fn shutdown(&self) {
        self.accept_task.abort();
    }
}

/// Resolves which backend serves each store label.
fn store_locations(
    config: &HostConfig,
    manifest: &Manifest,
) -> anyhow::Result<BTreeMap<String, StoreLocation>> {
    let mut locations = match &config.runtime_config_file {
        Some(file) => config::load_runtime_config(file)?,
        None => BTreeMap::new(),
    };
    if !locations.contains_key(DEFAULT_STORE_LABEL) {
        let state_dir = state_dir(config, manifest);
        locations.insert(
            DEFAULT_STORE_LABEL.to_owned(),
            StoreLocation::Sqlite(kv::default_database_path(&state_dir)),
        );
    }
    if config.in_memory {
        for location in locations.values_mut() {
            *location = StoreLocation::Memory;
        }
    }
    Ok(locations)
}

fn state_dir(config: &HostConfig, manifest: &Manifest) -> PathBuf {
    config
        .state_dir
        .clone()
        .unwrap_or_else(|| manifest.dir.join(DEFAULT_STATE_DIR_NAME))
}

/// Checks that every label a component lists is configured.
fn check_store_labels(
    manifest: &Manifest,
    locations: &BTreeMap<String, StoreLocation>,
    runtime_config: Option<&Path>,
) -> anyhow::Result<()> {
    for component in manifest.components.values() {
        let mut labels: Vec<&String> = component.key_value_stores.iter().collect();
        labels.sort();
        for label in labels {
            if !locations.contains_key(label) {
                let fix = match runtime_config {
                    Some(file) => format!("add [key_value_store.{label}] to {}", file.display()),
                    None => {
                        format!("pass --runtime-config-file with a [key_value_store.{label}] table")
                    }
                };
                bail!(
                    "{}: component {:?} lists key-value store {label:?}, which is not \
                     configured (only \"default\" is built in); {fix}, or remove it from \
                     key_value_stores",
                    manifest.path.display(),
                    component.id
                );
            }
        }
    }
    Ok(())
}

/// Opens every configured store, printing where each one lives.
fn open_stores(
    locations: &BTreeMap<String, StoreLocation>,
    settings: SqliteSettings,
) -> anyhow::Result<Stores> {
    let mut tuning = if settings.wal {
        "journal_mode=WAL, synchronous=NORMAL (--sqlite-wal: faster, NOT Spin's default)"
    } else {
        "journal_mode=DELETE, synchronous=FULL (Spin's default)"
    }
    .to_owned();
    if let Some(wait_ms) = settings.store_wait_ms {
        tuning.push_str(&format!(
            "; store calls wait at most {wait_ms} ms for the connection and for SQLite's lock \
             (--store-wait-ms: NOT Spin's behaviour, which waits without limit and 5 s)"
        ));
    }
    let mut stores = Stores::new();
    for (label, location) in locations {
        let backend: Arc<dyn kv::Backend> = match location {
            StoreLocation::Memory => {
                eprintln!("booking-host: key-value store {label:?}: in memory (--in-memory)");
                Arc::new(MemoryBackend::new())
            }
            StoreLocation::SqliteInMemory => {
                eprintln!("booking-host: key-value store {label:?}: SQLite in memory");
                Arc::new(SqliteBackend::open_in_memory(label, settings)?)
            }
            StoreLocation::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).with_context(|| {
                        format!(
                            "cannot create the key-value store directory {}; pass a writable \
                             --state-dir",
                            parent.display()
                        )
                    })?;
                }
                eprintln!(
                    "booking-host: key-value store {label:?}: SQLite {}, {tuning}",
                    path.display()
                );
                Arc::new(SqliteBackend::open(path, label, settings)?)
            }
        };
        stores.insert(label.clone(), Store::new(backend));
    }
    Ok(stores)
}

/// Validates the configuration, prepares every component, binds, and starts serving.
///
/// Everything that can be wrong with the configuration (manifest, runtime config, variables,
/// store labels, missing or invalid `.wasm` files) is reported before the listener is bound.
pub async fn serve(config: HostConfig) -> anyhow::Result<ServingHost> {
    let started = Instant::now();
    let manifest = Manifest::load(&config.manifest)?;
    let locations = store_locations(&config, &manifest)?;
    check_store_labels(&manifest, &locations, config.runtime_config_file.as_deref())?;
    let application_variables = manifest.resolve_variables(&|name| config.env_value(name))?;
    let component_variables = manifest.component_variables(&application_variables)?;
    let allowed_hosts = manifest.component_allowed_hosts(&application_variables)?;
    manifest.check_sources()?;
    let (router, warnings) = Router::build(
        manifest
            .triggers
            .iter()
            .map(|t| (t.route.as_str(), t.component.as_str())),
    )
    .with_context(|| format!("{}: invalid route", manifest.path.display()))?;
    for warning in warnings {
        eprintln!("booking-host: warning: {warning}");
    }

    let stores = Arc::new(open_stores(
        &locations,
        SqliteSettings {
            wal: config.sqlite_wal,
            store_wait_ms: config.store_wait_ms,
        },
    )?);
    let (components, pool_instances) =
        prepare_components(&manifest, &stores, &component_variables, &allowed_hosts).await?;
    let shedding = if config.shed_load {
        Some(shedding(&manifest, &application_variables, pool_instances))
    } else {
        None
    };
    let app = Arc::new(server::App {
        router,
        components,
        shedding,
        info: app_info(&manifest),
        kv_calls: config.kv_calls_endpoint.then(|| Arc::clone(&stores)),
    });

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}; pick another --listen", config.listen))?;
    let local_addr = listener.local_addr()?;
    let startup = started.elapsed();
    let accept_task = tokio::spawn(server::accept_loop(listener, app));
    Ok(ServingHost {
        local_addr,
        accept_task,
        startup,
        stores,
    })
}

/// The body of `/.well-known/spin/info`, as Spin writes it (`serde_json::to_vec_pretty` of
/// its `AppInfo`: the name, and the version when there is one).
fn app_info(manifest: &Manifest) -> bytes::Bytes {
    #[derive(serde::Serialize)]
    struct AppInfo<'a> {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<&'a str>,
    }
    let info = AppInfo {
        name: &manifest.name,
        version: manifest.version.as_deref(),
    };
    serde_json::to_vec_pretty(&info).unwrap_or_default().into()
}

/// The load shedding of `--shed-load`, announced on stderr as not being Spin's behaviour.
fn shedding(
    manifest: &Manifest,
    application_variables: &HashMap<String, String>,
    pool_instances: Option<u32>,
) -> server::Shedding {
    let instances = pool_instances.unwrap_or(runtime::DEFAULT_MAX_INSTANCES);
    let slots = runtime::shed_load_slots(instances);
    let cors_origin = match application_variables.get(CORS_ORIGIN_VARIABLE) {
        None => None,
        Some(origin) => match http::HeaderValue::from_str(origin) {
            Ok(value) => Some(value),
            Err(_) => {
                eprintln!(
                    "booking-host: warning: {}: variable {CORS_ORIGIN_VARIABLE} = {origin:?} is \
                     not a valid header value; --shed-load 503s carry no \
                     Access-Control-Allow-Origin",
                    manifest.path.display()
                );
                None
            }
        },
    };
    eprintln!(
        "booking-host: --shed-load: at most {slots} requests at once; the rest get a \
         problem+json 503 with Retry-After: 1 and Access-Control-Allow-Origin {}. This is NOT \
         Spin's behaviour: Spin admits every request and answers an empty 500 when its instance \
         pool ({instances}) is exhausted.",
        cors_origin
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .map_or_else(
                || "(none: no cors_origin variable)".to_owned(),
                |o| format!("{o:?}")
            )
    );
    server::Shedding {
        slots: Arc::new(tokio::sync::Semaphore::new(slots as usize)),
        cors_origin,
    }
}

/// The application variable whose value the components send as `Access-Control-Allow-Origin`,
/// and which `--shed-load`'s 503s carry too.
pub const CORS_ORIGIN_VARIABLE: &str = "cors_origin";

/// Compiles (in parallel, off the async threads) and pre-instantiates the served components;
/// also returns the instance pool's size (`None` with on-demand allocation).
async fn prepare_components(
    manifest: &Manifest,
    stores: &Arc<Stores>,
    variables: &HashMap<String, HashMap<String, String>>,
    allowed_hosts: &HashMap<String, Result<Vec<redis::AllowedHost>, String>>,
) -> anyhow::Result<(HashMap<String, Arc<PreparedComponent>>, Option<u32>)> {
    let built = runtime::build_engine()?;
    let engine = built.engine;
    let linker = runtime::build_linker(&engine)?;
    let compile_started = Instant::now();
    let mut compiling = Vec::new();
    for decl in manifest.served_components() {
        let engine = engine.clone();
        let decl = decl.clone();
        compiling.push(tokio::task::spawn_blocking(move || {
            let component = runtime::compile(&engine, &decl);
            (decl, component)
        }));
    }
    let mut prepared = HashMap::new();
    for task in compiling {
        let (decl, component) = task.await.context("a compile task panicked")?;
        let component = component?;
        let capabilities = runtime::capabilities_for(&decl, stores, variables, allowed_hosts);
        let ready = PreparedComponent::prepare(&linker, &component, &decl, capabilities)?;
        prepared.insert(decl.id.clone(), Arc::new(ready));
    }
    let allocator = match built.pool_instances {
        Some(instances) => format!(
            "pooling instance allocator with Spin's limits: {instances} instances; an exhausted \
             pool answers an empty 500, as Spin does"
        ),
        None => "on-demand instance allocator (the pooling probe failed, as Spin would fall \
                 back too)"
            .to_owned(),
    };
    eprintln!(
        "booking-host: {} components ready in {} ms ({allocator})",
        prepared.len(),
        compile_started.elapsed().as_millis()
    );
    Ok((prepared, built.pool_instances))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a manifest into a fresh directory and returns its path.
    fn manifest_in_temp_dir(test: &str, text: &str) -> anyhow::Result<PathBuf> {
        let dir =
            std::env::temp_dir().join(format!("booking-host-serve-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("spin.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "target/wasm32-wasip2/release/web.wasm"
key_value_stores = ["default"]
"#;

    async fn serve_error(config: HostConfig) -> String {
        match serve(config).await {
            Ok(host) => {
                host.shutdown();
                "unexpectedly served".to_owned()
            }
            Err(error) => format!("{error:#}"),
        }
    }

    #[tokio::test]
    async fn unbuilt_components_are_reported_before_listening() -> anyhow::Result<()> {
        let manifest = manifest_in_temp_dir("unbuilt", MANIFEST)?;
        let error = serve_error(HostConfig::for_manifest(&manifest)).await;
        assert!(error.contains("web.wasm"), "{error}");
        assert!(
            error.contains("cargo build --target wasm32-wasip2 --release"),
            "{error}"
        );
        // Validation failed before anything was created next to the manifest.
        let state = manifest.with_file_name(DEFAULT_STATE_DIR_NAME);
        assert!(!state.exists(), "{}", state.display());
        Ok(())
    }

    #[tokio::test]
    async fn unknown_store_labels_are_reported() -> anyhow::Result<()> {
        let text = MANIFEST.replace(r#"["default"]"#, r#"["default", "cache"]"#);
        let manifest = manifest_in_temp_dir("label", &text)?;
        let error = serve_error(HostConfig::for_manifest(&manifest)).await;
        assert!(
            error.contains("\"cache\", which is not configured"),
            "{error}"
        );
        assert!(error.contains("[key_value_store.cache]"), "{error}");
        Ok(())
    }

    #[tokio::test]
    async fn required_variables_come_from_the_environment() -> anyhow::Result<()> {
        let text = format!("{MANIFEST}[variables]\nsecret = {{ required = true }}\n");
        let manifest = manifest_in_temp_dir("required", &text)?;
        let mut config = HostConfig::for_manifest(&manifest);
        config.env_override = Some(BTreeMap::new());
        let error = serve_error(config.clone()).await;
        assert!(error.contains("SPIN_VARIABLE_SECRET"), "{error}");
        // With the variable set, validation moves on to the (missing) component file.
        config.env_override = Some(BTreeMap::from([(
            "SPIN_VARIABLE_SECRET".to_owned(),
            "s".to_owned(),
        )]));
        let error = serve_error(config).await;
        assert!(error.contains("web.wasm"), "{error}");
        Ok(())
    }

    /// A `SPIN_VARIABLE_*` for a variable the manifest does not declare (the harnesses pass
    /// `SPIN_VARIABLE_CONFIRM_TOKEN` whether or not the app declares `confirm_token` yet) is
    /// ignored, as Spin's environment provider ignores it: start-up goes on and the variable
    /// reaches no component.
    #[tokio::test]
    async fn undeclared_variables_in_the_environment_are_ignored() -> anyhow::Result<()> {
        let text = format!("{MANIFEST}[variables]\nadmin_token = {{ default = \"\" }}\n");
        let manifest_path = manifest_in_temp_dir("undeclared", &text)?;
        let mut config = HostConfig::for_manifest(&manifest_path);
        let env = BTreeMap::from([
            ("SPIN_VARIABLE_ADMIN_TOKEN".to_owned(), "a".to_owned()),
            ("SPIN_VARIABLE_CONFIRM_TOKEN".to_owned(), "c".to_owned()),
        ]);
        config.env_override = Some(env);
        let manifest = Manifest::load(&manifest_path)?;
        let resolved = manifest.resolve_variables(&|name| config.env_value(name))?;
        assert_eq!(
            resolved,
            HashMap::from([("admin_token".to_owned(), "a".to_owned())])
        );
        // Validation moves on to the (missing) component file: nothing refused the variable.
        let error = serve_error(config).await;
        assert!(error.contains("web.wasm"), "{error}");
        Ok(())
    }
}
