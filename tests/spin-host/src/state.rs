//! Per-request store data: WASI and wasi-http contexts, and the Spin interfaces (Postgres,
//! variables, wasi:config) implemented for one component instance.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::fermyon::spin::variables;
use crate::bindings::spin::postgres::postgres;
use crate::bindings::wasi::config::store as config_store;
use crate::manifest::validate_variable_name;
use crate::outbound::AllowedHosts;
use crate::pg::{PgConnection, PgPools};
use crate::server::OutboundHooks;

/// What a component is allowed and given, resolved once at startup.
#[derive(Debug)]
pub struct ComponentRuntime {
    pub id: String,
    /// Component variables, templates rendered.
    pub variables: HashMap<String, String>,
    pub allowed_hosts: AllowedHosts,
    /// WASI environment variables (`environment` in the manifest).
    pub environment: Vec<(String, String)>,
}

pub struct HostState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub hooks: OutboundHooks,
    pub component: Arc<ComponentRuntime>,
    pub pg: Arc<PgPools>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl postgres::Host for HostState {}

impl postgres::HostConnection for HostState {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, postgres::Error>> {
        let connection = match self.pg.open(&address, &self.component.allowed_hosts).await {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        Ok(Ok(self.table.push(connection)?))
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<postgres::ParameterValue>,
    ) -> wasmtime::Result<Result<postgres::RowSet, postgres::Error>> {
        let connection = self.table.get(&connection)?;
        Ok(connection.query(&statement, params).await)
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<postgres::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, postgres::Error>> {
        let connection = self.table.get(&connection)?;
        Ok(connection.execute(&statement, params).await)
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        // Dropping the pooled client hands it back to the pool.
        self.table.delete(connection)?;
        Ok(())
    }
}

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        if let Err(error) = validate_variable_name(&name) {
            return Ok(Err(variables::Error::InvalidName(format!(
                "{name:?}: {error}"
            ))));
        }
        Ok(match self.component.variables.get(&name) {
            Some(value) => Ok(value.clone()),
            None => Err(variables::Error::Undefined(format!(
                "no variable for \"{}\".\"{name}\"",
                self.component.id
            ))),
        })
    }
}

impl config_store::Host for HostState {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, config_store::Error>> {
        if let Err(error) = validate_variable_name(&key) {
            return Ok(Err(config_store::Error::Upstream(format!(
                "invalid key {key:?}: {error}"
            ))));
        }
        Ok(Ok(self.component.variables.get(&key).cloned()))
    }

    async fn get_all(
        &mut self,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, config_store::Error>> {
        let mut all: Vec<(String, String)> = self
            .component
            .variables
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        all.sort();
        Ok(Ok(all))
    }
}
