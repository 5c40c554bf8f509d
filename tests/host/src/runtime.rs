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

/// Component instances that may be alive at once in the pooling allocator.
pub const POOL_COMPONENT_INSTANCES: u32 = 1_000;
/// Requests served at once. Below the pool's size, so that a request admitted
/// while an earlier instance is still being torn down never meets a full pool.
pub const INSTANCE_SLOTS: u32 = POOL_COMPONENT_INSTANCES * 9 / 10;
/// Core instances in the pool: a Rust component has a few (program, WASI adapter, shims).
const POOL_CORE_INSTANCES: u32 = 6_000;
/// Linear memories in the pool: the program's and the adapter's for each component.
const POOL_MEMORIES: u32 = 3_000;
/// Tables in the pool.
const POOL_TABLES: u32 = 6_000;
/// The largest linear memory a guest may grow to, in bytes.
const MAX_MEMORY_SIZE_BYTES: usize = 256 * 1024 * 1024;

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

/// Builds the engine: async host calls, parallel compilation, and the pooling allocator when
/// the machine allows its address-space reservation (falling back to on-demand otherwise).
pub fn build_engine() -> anyhow::Result<(Engine, &'static str)> {
    let mut config = Config::new();
    // Async host calls need no switch in this wasmtime version: `async` is a build feature.
    config.parallel_compilation(true);
    config.max_wasm_stack(1024 * 1024);

    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(POOL_COMPONENT_INSTANCES)
        .total_core_instances(POOL_CORE_INSTANCES)
        .total_memories(POOL_MEMORIES)
        .total_tables(POOL_TABLES)
        .max_memory_size(MAX_MEMORY_SIZE_BYTES);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    match Engine::new(&pooled) {
        Ok(engine) => Ok((engine, "pooling")),
        Err(pool_error) => {
            eprintln!(
                "booking-host: pooling allocator unavailable ({pool_error:#}); using on-demand \
                 allocation"
            );
            Ok((Engine::new(&config)?, "on-demand"))
        }
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
        instance_slot: tokio::sync::OwnedSemaphorePermit,
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
            let result = async {
                let proxy = this.pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await
            }
            .await;
            // The slot is held for as long as the instance lives: free the
            // instance (back to the pool) first, then the slot.
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
) -> ComponentCapabilities {
    ComponentCapabilities {
        component: Arc::from(decl.id.as_str()),
        stores: Arc::clone(stores),
        allowed_stores: Arc::new(decl.key_value_stores.clone()),
        variables: Arc::new(variables.get(&decl.id).cloned().unwrap_or_default()),
    }
}
