//! Host implementations of `wasi:keyvalue@0.2.0-draft2` and `fermyon:spin/variables@2.0.0`.
//!
//! The bindings are generated from the WIT in `wit/`. Every key-value function is `async` on
//! the host so the guest is suspended while the store works, as on Spin.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};

use crate::kv::{self, KvError, Stores};

wasmtime::component::bindgen!({
    path: ["wit/keyvalue", "wit/spin-variables"],
    inline: "
        package booking:host;

        world booking-host {
            import wasi:keyvalue/store@0.2.0-draft2;
            import wasi:keyvalue/atomics@0.2.0-draft2;
            import wasi:keyvalue/batch@0.2.0-draft2;
            import fermyon:spin/variables@2.0.0;
        }
    ",
    world: "booking:host/booking-host",
    imports: { default: async },
    with: {
        "wasi:keyvalue/store.bucket": crate::kv::Store,
        "wasi:keyvalue/atomics.cas": crate::kv::Cas,
    },
});

use fermyon::spin::variables as spin_variables;
use wasi::keyvalue::{atomics, batch, store};

/// What one component instance may see: its stores, its store labels and its variables.
#[derive(Debug, Clone)]
pub struct ComponentCapabilities {
    /// The component id, for messages.
    pub component: Arc<str>,
    /// Every configured store of the runtime.
    pub stores: Arc<Stores>,
    /// The labels listed in the component's `key_value_stores`.
    pub allowed_stores: Arc<HashSet<String>>,
    /// The component's resolved variables.
    pub variables: Arc<HashMap<String, String>>,
}

/// The per-request host state that the key-value and variables interfaces work on.
pub struct HostState<'a> {
    /// The instance's resource table, shared with WASI.
    pub table: &'a mut ResourceTable,
    /// The component's capabilities.
    pub capabilities: &'a ComponentCapabilities,
}

impl From<KvError> for store::Error {
    fn from(error: KvError) -> Self {
        match error {
            KvError::NoSuchStore => Self::NoSuchStore,
            KvError::AccessDenied => Self::AccessDenied,
            KvError::Other(message) => Self::Other(message),
        }
    }
}

/// Reports a stale or foreign handle as a store error, like Spin does.
fn table_error(error: wasmtime::component::ResourceTableError) -> store::Error {
    store::Error::Other(format!("invalid resource handle: {error}"))
}

impl HostState<'_> {
    fn bucket(&self, bucket: &Resource<kv::Store>) -> Result<kv::Store, store::Error> {
        self.table
            .get(bucket)
            .cloned()
            .map_err(|_| store::Error::NoSuchStore)
    }
}

impl store::Host for HostState<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<kv::Store>, store::Error> {
        let opened = self
            .capabilities
            .stores
            .open(&self.capabilities.allowed_stores, &identifier)?;
        self.table.push(opened).map_err(table_error)
    }
}

impl store::HostBucket for HostState<'_> {
    async fn get(
        &mut self,
        bucket: Resource<kv::Store>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        Ok(self.bucket(&bucket)?.get(key).await?)
    }

    async fn set(
        &mut self,
        bucket: Resource<kv::Store>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        Ok(self.bucket(&bucket)?.set(key, value).await?)
    }

    async fn delete(
        &mut self,
        bucket: Resource<kv::Store>,
        key: String,
    ) -> Result<(), store::Error> {
        Ok(self.bucket(&bucket)?.delete(key).await?)
    }

    async fn exists(
        &mut self,
        bucket: Resource<kv::Store>,
        key: String,
    ) -> Result<bool, store::Error> {
        Ok(self.bucket(&bucket)?.exists(key).await?)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<kv::Store>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, store::Error> {
        // Spin's store returns every key in one page and rejects cursors.
        if cursor.is_some() {
            return Err(store::Error::Other(
                "list_keys: cursor not supported".to_owned(),
            ));
        }
        let keys = self.bucket(&bucket)?.keys().await?;
        Ok(store::KeyResponse { keys, cursor: None })
    }

    async fn drop(&mut self, bucket: Resource<kv::Store>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl batch::Host for HostState<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<kv::Store>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        Ok(self.bucket(&bucket)?.get_many(keys).await?)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<kv::Store>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        Ok(self.bucket(&bucket)?.set_many(key_values).await?)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<kv::Store>,
        keys: Vec<String>,
    ) -> Result<(), store::Error> {
        Ok(self.bucket(&bucket)?.delete_many(keys).await?)
    }
}

impl atomics::HostCas for HostState<'_> {
    async fn new(
        &mut self,
        bucket: Resource<kv::Store>,
        key: String,
    ) -> Result<Resource<kv::Cas>, store::Error> {
        let cas = self.bucket(&bucket)?.new_cas(key);
        self.table.push(cas).map_err(table_error)
    }

    async fn current(&mut self, cas: Resource<kv::Cas>) -> Result<Option<Vec<u8>>, store::Error> {
        let handle = self.table.get_mut(&cas).map_err(table_error)?;
        Ok(handle.current().await?)
    }

    async fn drop(&mut self, cas: Resource<kv::Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl atomics::Host for HostState<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<kv::Store>,
        key: String,
        delta: i64,
    ) -> Result<i64, store::Error> {
        Ok(self.bucket(&bucket)?.increment(key, delta).await?)
    }

    async fn swap(
        &mut self,
        cas: Resource<kv::Cas>,
        value: Vec<u8>,
    ) -> Result<(), atomics::CasError> {
        let handle = self
            .table
            .delete(cas)
            .map_err(|error| atomics::CasError::StoreError(table_error(error)))?;
        match handle.swap(value).await {
            Ok(()) => Ok(()),
            Err(kv::SwapError::Store(error)) => Err(atomics::CasError::StoreError(error.into())),
            Err(kv::SwapError::CasFailed(retry)) => {
                let retry = self
                    .table
                    .push(retry)
                    .map_err(|error| atomics::CasError::StoreError(table_error(error)))?;
                Err(atomics::CasError::CasFailed(retry))
            }
        }
    }
}

impl spin_variables::Host for HostState<'_> {
    async fn get(&mut self, name: String) -> Result<String, spin_variables::Error> {
        crate::manifest::validate_variable_name(&name)
            .map_err(spin_variables::Error::InvalidName)?;
        self.capabilities
            .variables
            .get(&name)
            .cloned()
            .ok_or_else(|| {
                spin_variables::Error::Undefined(format!(
                    "no variable for {:?}.{name:?}",
                    self.capabilities.component
                ))
            })
    }
}
