//! Host implementations of `wasi:keyvalue@0.2.0-draft2`, `fermyon:spin/variables@2.0.0` and
//! `fermyon:spin/redis@2.0.0` (outbound Redis, see [`crate::redis`]).
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
            import fermyon:spin/redis@2.0.0;
        }
    ",
    world: "booking:host/booking-host",
    imports: { default: async },
    with: {
        "wasi:keyvalue/store.bucket": crate::kv::Store,
        "wasi:keyvalue/atomics.cas": crate::kv::Cas,
        "fermyon:spin/redis.connection": crate::redis::Connection,
    },
});

use fermyon::spin::redis as spin_redis;
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
    /// The component's `allowed_outbound_hosts`, templates resolved; an entry that does not
    /// parse makes every outbound Redis `open` fail with its message, as on Spin.
    pub allowed_hosts: Arc<Result<Vec<crate::redis::AllowedHost>, String>>,
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

impl From<crate::redis::RedisError> for spin_redis::Error {
    fn from(error: crate::redis::RedisError) -> Self {
        match error {
            crate::redis::RedisError::InvalidAddress => Self::InvalidAddress,
            crate::redis::RedisError::TypeError => Self::TypeError,
            crate::redis::RedisError::Other(message) => Self::Other(message),
        }
    }
}

impl HostState<'_> {
    fn redis(
        &self,
        connection: &Resource<crate::redis::Connection>,
    ) -> Result<crate::redis::Connection, spin_redis::Error> {
        self.table
            .get(connection)
            .cloned()
            .map_err(|_| spin_redis::Error::Other("could not find connection for resource".into()))
    }
}

impl spin_redis::Host for HostState<'_> {}

impl spin_redis::HostConnection for HostState<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> Result<Resource<crate::redis::Connection>, spin_redis::Error> {
        let allowed = match self.capabilities.allowed_hosts.as_ref() {
            Ok(allowed) => allowed,
            Err(message) => return Err(spin_redis::Error::Other(message.clone())),
        };
        if !crate::redis::is_allowed(allowed, &address) {
            return Err(spin_redis::Error::InvalidAddress);
        }
        let connection = crate::redis::open(&address).await?;
        self.table
            .push(connection)
            .map_err(|_| spin_redis::Error::TooManyConnections)
    }

    async fn publish(
        &mut self,
        connection: Resource<crate::redis::Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), spin_redis::Error> {
        Ok(self.redis(&connection)?.publish(&channel, &payload).await?)
    }

    async fn get(
        &mut self,
        connection: Resource<crate::redis::Connection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, spin_redis::Error> {
        Ok(self.redis(&connection)?.get(&key).await?)
    }

    async fn set(
        &mut self,
        connection: Resource<crate::redis::Connection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), spin_redis::Error> {
        Ok(self.redis(&connection)?.set(&key, &value).await?)
    }

    async fn incr(
        &mut self,
        connection: Resource<crate::redis::Connection>,
        key: String,
    ) -> Result<i64, spin_redis::Error> {
        Ok(self.redis(&connection)?.incr(&key).await?)
    }

    async fn del(
        &mut self,
        connection: Resource<crate::redis::Connection>,
        keys: Vec<String>,
    ) -> Result<u32, spin_redis::Error> {
        Ok(self.redis(&connection)?.del(&keys).await?)
    }

    async fn sadd(
        &mut self,
        connection: Resource<crate::redis::Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, spin_redis::Error> {
        Ok(self.redis(&connection)?.sadd(&key, &values).await?)
    }

    async fn smembers(
        &mut self,
        connection: Resource<crate::redis::Connection>,
        key: String,
    ) -> Result<Vec<String>, spin_redis::Error> {
        Ok(self.redis(&connection)?.smembers(&key).await?)
    }

    async fn srem(
        &mut self,
        connection: Resource<crate::redis::Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, spin_redis::Error> {
        Ok(self.redis(&connection)?.srem(&key, &values).await?)
    }

    async fn execute(
        &mut self,
        connection: Resource<crate::redis::Connection>,
        command: String,
        arguments: Vec<spin_redis::RedisParameter>,
    ) -> Result<Vec<spin_redis::RedisResult>, spin_redis::Error> {
        use crate::redis::{Param, Reply};
        let arguments = arguments
            .into_iter()
            .map(|argument| match argument {
                spin_redis::RedisParameter::Int64(value) => Param::Int64(value),
                spin_redis::RedisParameter::Binary(value) => Param::Binary(value),
            })
            .collect();
        let replies = self
            .redis(&connection)?
            .execute(&command, arguments)
            .await?;
        Ok(replies
            .into_iter()
            .map(|reply| match reply {
                Reply::Nil => spin_redis::RedisResult::Nil,
                Reply::Status(text) => spin_redis::RedisResult::Status(text),
                Reply::Int64(value) => spin_redis::RedisResult::Int64(value),
                Reply::Binary(bytes) => spin_redis::RedisResult::Binary(bytes),
            })
            .collect())
    }

    async fn drop(
        &mut self,
        connection: Resource<crate::redis::Connection>,
    ) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}
