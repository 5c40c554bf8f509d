//! The wasmtime side: engine settings, linking, pre-instantiation, and running one request.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{self, ComponentCapabilities, HostState};
use crate::manifest::ComponentDecl;

/// Spin's baseline for the pool: at most this many component instances alive at once
/// (`SPIN_MAX_INSTANCE_COUNT`, default 1,000), so at most this many requests in flight.
pub const DEFAULT_MAX_INSTANCES: u32 = 1_000;
/// Requests admitted at once under `--shed-load`: below the pool's size, so that a request
/// admitted while an earlier instance is still being torn down never meets a full pool.
pub fn shed_load_slots(max_instances: u32) -> u32 {
    max_instances * 9 / 10
}

const MB: u64 = 1 << 20;
const GB: usize = 1 << 30;

/// Reads one of Spin's pool settings from the environment, as spin-core does.
fn spin_env<T>(name: &str, default: T) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|error| anyhow::anyhow!("failed to parse env var `{name}={value}`: {error}")),
        Err(_) => Ok(default),
    }
}

/// The pooling allocator settings of spin-core 4.0.2 (`crates/core/src/lib.rs`), with the
/// same environment overrides: 1,000 component instances and 1,000 linear memories, and the
/// totals and per-component limits derived from them. Returns the pool and its instance count.
pub fn spin_pooling_config() -> anyhow::Result<(PoolingAllocationConfig, u32)> {
    let max_instances: u32 = spin_env("SPIN_MAX_INSTANCE_COUNT", DEFAULT_MAX_INSTANCES)?;
    let component_instances = spin_env("SPIN_WASMTIME_INSTANCE_COUNT", max_instances)?;
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(component_instances)
        .total_memories(spin_env("SPIN_WASMTIME_TOTAL_MEMORIES", max_instances)?)
        .total_tables(spin_env("SPIN_WASMTIME_TOTAL_TABLES", 2 * max_instances)?)
        .total_stacks(spin_env("SPIN_WASMTIME_TOTAL_STACKS", max_instances)?)
        .total_core_instances(spin_env(
            "SPIN_WASMTIME_TOTAL_CORE_INSTANCES",
            4 * max_instances,
        )?)
        .table_elements(spin_env("SPIN_WASMTIME_INSTANCE_TABLE_ELEMENTS", 100_000)?)
        .max_component_instance_size(
            spin_env::<u64>("SPIN_WASMTIME_INSTANCE_SIZE", 10 * MB)? as usize
        )
        .max_core_instance_size(
            spin_env::<u64>("SPIN_WASMTIME_CORE_INSTANCE_SIZE", 10 * MB)? as usize,
        )
        .max_core_instances_per_component(spin_env("SPIN_WASMTIME_CORE_INSTANCE_COUNT", 200)?)
        .max_tables_per_component(spin_env("SPIN_WASMTIME_INSTANCE_TABLES", 64)?)
        .max_memories_per_component(spin_env("SPIN_WASMTIME_INSTANCE_MEMORIES", 32)?)
        .max_tables_per_module(spin_env("SPIN_WASMTIME_MAX_TABLES_PER_MODULE", 2)?)
        .max_memories_per_module(spin_env("SPIN_WASMTIME_MAX_MEMORIES_PER_MODULE", 2)?)
        .max_memory_size(4 * GB)
        .linear_memory_keep_resident(spin_env::<u64>(
            "SPIN_WASMTIME_LINEAR_MEMORY_KEEP_RESIDENT",
            2 * MB,
        )? as usize)
        .table_keep_resident(
            spin_env::<u64>("SPIN_WASMTIME_TABLE_KEEP_RESIDENT", MB / 2)? as usize,
        );
    Ok((pooling, component_instances))
}

/// Whether to use the pooling allocator, decided as spin-core decides it:
/// `SPIN_WASMTIME_POOLING=1`/`0`, else a probe for a 2^42-byte memory reservation (machines
/// that limit virtual memory fail it and get on-demand allocation).
fn use_pooling_allocator() -> anyhow::Result<bool> {
    const BITS_TO_TEST: u32 = 42;
    match std::env::var("SPIN_WASMTIME_POOLING").as_deref() {
        Ok("1") => return Ok(true),
        Ok("0") => return Ok(false),
        Ok(other) => {
            anyhow::bail!("SPIN_WASMTIME_POOLING={other} not supported, only 1/0 supported")
        }
        Err(_) => {}
    }
    let mut config = Config::new();
    config.wasm_memory64(true);
    config.memory_reservation(1 << BITS_TO_TEST);
    Ok(match Engine::new(&config) {
        Ok(engine) => {
            let mut store = Store::new(&engine, ());
            let ty = wasmtime::MemoryType::new64(0, Some(1 << (BITS_TO_TEST - 16)));
            wasmtime::Memory::new(&mut store, ty).is_ok()
        }
        Err(_) => false,
    })
}

/// The state of one request's store.
pub struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: NoOutboundHttp,
    capabilities: ComponentCapabilities,
}

/// `wasi:http` hooks that refuse outgoing requests: the project's components make none, and
/// Spin would refuse them too unless `allowed_outbound_hosts` lists the destination.
struct NoOutboundHttp;

impl wasmtime_wasi_http::WasiHttpHooks for NoOutboundHttp {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _body_done: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Selects [`HostState`] as the view the generated bindings work on.
struct HostStateData;

impl HasData for HostStateData {
    type Data<'a> = HostState<'a>;
}

fn host_state(state: &mut RequestState) -> HostState<'_> {
    HostState {
        table: &mut state.table,
        capabilities: &state.capabilities,
    }
}

/// The engine as spin-core builds it, and how many instances its pool holds (`None` with
/// on-demand allocation, which has no such limit).
#[derive(Clone)]
pub struct BuiltEngine {
    /// The engine.
    pub engine: Engine,
    /// The pool's component-instance count, when pooling.
    pub pool_instances: Option<u32>,
}

/// Builds the engine with spin-core's settings: epoch interruption (with the deadline Spin
/// sets, effectively never), the component model, and the pooling allocator when the probe
/// allows it, with Spin's limits. When the pool is exhausted, instantiation fails and the
/// request gets Spin's empty 500.
pub fn build_engine() -> anyhow::Result<BuiltEngine> {
    let mut config = Config::new();
    // Async host calls need no switch in this wasmtime version: `async` is a build feature.
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.parallel_compilation(true);
    // For profiling only (scripts/bench sets it): wasmtime writes
    // /tmp/perf-<pid>.map so that perf names the guest's functions (JSON,
    // the booking core) instead of one anonymous block of JIT code.
    if std::env::var_os("BOOKING_HOST_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if use_pooling_allocator()? {
        let (pooling, instances) = spin_pooling_config()?;
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        Ok(BuiltEngine {
            engine: Engine::new(&config)?,
            pool_instances: Some(instances),
        })
    } else {
        Ok(BuiltEngine {
            engine: Engine::new(&config)?,
            pool_instances: None,
        })
    }
}

/// Builds the linker with WASI p2, wasi:http, wasi:keyvalue and Spin variables.
pub fn build_linker(engine: &Engine) -> anyhow::Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    bindings::BookingHost::add_to_linker::<RequestState, HostStateData>(&mut linker, host_state)?;
    Ok(linker)
}

/// A component compiled and pre-instantiated at start-up.
pub struct PreparedComponent {
    /// The component id.
    pub id: Arc<str>,
    pre: ProxyPre<RequestState>,
    capabilities: ComponentCapabilities,
    environment: Vec<(String, String)>,
}

/// Compiles a component file.
pub fn compile(engine: &Engine, decl: &ComponentDecl) -> anyhow::Result<Component> {
    Component::from_file(engine, &decl.source)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!(
                "component {:?}: cannot load {} as a WebAssembly component; {} (for wasm32-wasip2)",
                decl.id,
                decl.source.display(),
                crate::manifest::BUILD_HINT
            )
        })
}

impl PreparedComponent {
    /// Links and pre-instantiates a compiled component.
    ///
    /// Imports this runtime does not provide are defined as traps (with a warning), so that a
    /// component that imports, say, an unused Spin interface still serves what it can.
    pub fn prepare(
        linker: &Linker<RequestState>,
        component: &Component,
        decl: &ComponentDecl,
        capabilities: ComponentCapabilities,
    ) -> anyhow::Result<Self> {
        let instance_pre = match linker.instantiate_pre(component) {
            Ok(pre) => pre,
            Err(error) => {
                eprintln!(
                    "booking-host: warning: component {:?} imports something booking-host does \
                     not provide ({error:#}); calls to it will trap",
                    decl.id
                );
                let mut lenient = linker.clone();
                lenient.define_unknown_imports_as_traps(component)?;
                lenient.instantiate_pre(component)?
            }
        };
        let pre = ProxyPre::new(instance_pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "component {:?} ({}) does not export wasi:http/incoming-handler@0.2; is it an \
                 HTTP component?",
                    decl.id,
                    decl.source.display()
                )
            })?;
        Ok(Self {
            id: Arc::clone(&capabilities.component),
            pre,
            capabilities,
            environment: decl
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// Runs the component on one request and returns its response, or `None` after logging
    /// why there is none (the caller then answers 500, as Spin does).
    ///
    /// A fresh instance serves every request. The guest runs in its own task so that it can
    /// keep streaming the body after the response head is returned; errors after that point are
    /// logged with the component name too (the client then sees a truncated body).
    pub async fn handle(
        self: &Arc<Self>,
        request: hyper::Request<hyper::body::Incoming>,
        instance_slot: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Option<hyper::Response<HyperOutgoingBody>> {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        // Guest output goes to stderr: stdout carries only the `Serving` line tests parse.
        wasi.stdout(std::io::stderr());
        for (key, value) in &self.environment {
            wasi.env(key, value);
        }
        let mut store = Store::new(
            self.pre.engine(),
            RequestState {
                table: ResourceTable::new(),
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                hooks: NoOutboundHttp,
                capabilities: self.capabilities.clone(),
            },
        );
        // Epoch interruption is on, so there must be a deadline: Spin's, practically never.
        store.set_epoch_deadline(u64::MAX / 2);
        // As Spin's executor: instantiate first (an exhausted pool fails here, and the caller
        // answers Spin's empty 500), then pass the request in and run the guest on its own task.
        let proxy = match self.pre.instantiate_async(&mut store).await {
            Ok(proxy) => proxy,
            Err(error) => {
                self.log(&format!("cannot instantiate: {error:#}"));
                return None;
            }
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .and_then(|incoming| {
                let outparam = store.data_mut().http().new_response_outparam(sender)?;
                Ok((incoming, outparam))
            });
        let (incoming, outparam) = match prepared {
            Ok(pair) => pair,
            Err(error) => {
                self.log(&format!("cannot pass the request in: {error:#}"));
                return None;
            }
        };

        let this = Arc::clone(self);
        let task = tokio::task::spawn(async move {
            let result = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await;
            // Under --shed-load the slot is held for as long as the instance lives: free
            // the instance (back to the pool) first, then the slot.
            drop(store);
            drop(instance_slot);
            match result {
                Ok(()) => true,
                Err(error) => {
                    this.log(&format!("{error:?}"));
                    false
                }
            }
        });

        match receiver.await {
            Ok(Ok(response)) => Some(response),
            Ok(Err(code)) => {
                self.log(&format!("answered with error code {code:?}"));
                None
            }
            Err(_) => {
                // The sender is gone without a response: either the guest failed (and the task
                // has logged why) or it returned without calling `response-outparam.set`.
                if task.await.unwrap_or(false) {
                    self.log("returned without setting a response");
                }
                None
            }
        }
    }

    fn log(&self, message: &str) {
        eprintln!("booking-host: component {:?} failed: {message}", self.id);
    }
}

/// Builds the capabilities of each component.
pub fn capabilities_for(
    decl: &ComponentDecl,
    stores: &Arc<crate::kv::Stores>,
    variables: &HashMap<String, HashMap<String, String>>,
    allowed_hosts: &HashMap<String, Result<Vec<crate::redis::AllowedHost>, String>>,
) -> ComponentCapabilities {
    ComponentCapabilities {
        component: Arc::from(decl.id.as_str()),
        stores: Arc::clone(stores),
        allowed_stores: Arc::new(decl.key_value_stores.clone()),
        variables: Arc::new(variables.get(&decl.id).cloned().unwrap_or_default()),
        allowed_hosts: Arc::new(
            allowed_hosts
                .get(&decl.id)
                .cloned()
                .unwrap_or_else(|| Ok(Vec::new())),
        ),
    }
}
