//! The three-service topology — customer-service, order-service checking its customers there,
//! and a gateway in front of both — as one builder: the main stack ([`Stack::start`]) and the
//! variants the reliability suite needs (other upstream timeouts, a stub in customer-service's
//! place) are all built here, so the wiring between the services is written once.

use anyhow::Result;

use crate::procs::free_port;
use crate::stack::{
    metrics_port, spawn_service_with_env, ExtraEnv, Runtime, Service, ServiceConfig, Shape, Stack,
    NOWHERE, START_LIMIT, UPSTREAM_TIMEOUT_MS,
};

/// How to build the topology; [`Topology::spawn`] or [`Topology::start`] runs it.
#[derive(Clone, Debug)]
pub struct Topology<'a> {
    runtime: Runtime,
    database_url: &'a str,
    upstream_timeout_ms: u64,
    gateway_timeout_ms: Option<u64>,
    outside_customer_service: Option<String>,
    env: ExtraEnv<'a>,
}

/// The settings of each service of the topology, on free ports.
#[derive(Clone, Debug)]
pub struct Configs {
    /// `None` when customer-service is outside the topology (a stub).
    pub customer_service: Option<ServiceConfig>,
    pub order_service: ServiceConfig,
    pub gateway: ServiceConfig,
}

impl<'a> Topology<'a> {
    /// The three services of `runtime` on `database_url`, with the services' own upstream
    /// timeout.
    pub fn new(runtime: Runtime, database_url: &'a str) -> Topology<'a> {
        Topology {
            runtime,
            database_url,
            upstream_timeout_ms: UPSTREAM_TIMEOUT_MS,
            gateway_timeout_ms: None,
            outside_customer_service: None,
            env: &[],
        }
    }

    /// Every service's `UPSTREAM_TIMEOUT_MS`.
    pub fn upstream_timeout_ms(mut self, ms: u64) -> Topology<'a> {
        self.upstream_timeout_ms = ms;
        self
    }

    /// The gateway's `UPSTREAM_TIMEOUT_MS` alone, e.g. longer than order-service's so that
    /// order-service's own 504 reaches the client.
    pub fn gateway_timeout_ms(mut self, ms: u64) -> Topology<'a> {
        self.gateway_timeout_ms = Some(ms);
        self
    }

    /// No customer-service of ours: order-service and the gateway call `url` instead.
    pub fn customer_service_at(mut self, url: String) -> Topology<'a> {
        self.outside_customer_service = Some(url);
        self
    }

    /// Variables set on every process on top of its own settings (see [`ExtraEnv`]).
    pub fn env(mut self, env: ExtraEnv<'a>) -> Topology<'a> {
        self.env = env;
        self
    }

    /// Each service's settings: free ports, and each caller pointed at its callees.
    pub fn configs(&self) -> Result<Configs> {
        let config = |svc, upstream_timeout_ms| -> Result<ServiceConfig> {
            Ok(ServiceConfig {
                runtime: self.runtime,
                svc,
                port: free_port()?,
                database_url: self.database_url.to_string(),
                customer_service_url: NOWHERE.to_string(),
                order_service_url: NOWHERE.to_string(),
                upstream_timeout_ms,
                metrics_port: metrics_port(self.runtime)?,
            })
        };
        let customer_service = match self.outside_customer_service {
            Some(_) => None,
            None => Some(config(Service::CustomerService, self.upstream_timeout_ms)?),
        };
        let customer_service_url = match (&self.outside_customer_service, &customer_service) {
            (Some(url), _) => url.clone(),
            (None, Some(ours)) => ours.url(),
            (None, None) => unreachable!("customer-service is ours when not outside"),
        };
        let order_service = ServiceConfig {
            customer_service_url: customer_service_url.clone(),
            ..config(Service::OrderService, self.upstream_timeout_ms)?
        };
        let gateway_timeout_ms = self.gateway_timeout_ms.unwrap_or(self.upstream_timeout_ms);
        let gateway = ServiceConfig {
            customer_service_url,
            order_service_url: order_service.url(),
            ..config(Service::Gateway, gateway_timeout_ms)?
        };
        Ok(Configs {
            customer_service,
            order_service,
            gateway,
        })
    }

    /// Starts every process (callees first) and returns at once, nothing waited for. A Spin
    /// database must already have the schema ([`crate::pg::migrate`]); Axum migrates at start.
    pub fn spawn(&self) -> Result<Stack> {
        let configs = self.configs()?;
        let mut procs = Vec::new();
        for config in configs
            .customer_service
            .iter()
            .chain([&configs.order_service, &configs.gateway])
        {
            procs.push((config.svc, spawn_service_with_env(config, "", self.env)?));
        }
        Ok(Stack {
            runtime: self.runtime,
            shape: Shape::Services,
            procs,
            gateway_url: configs.gateway.url(),
            customer_service: configs.customer_service,
            order_service: Some(configs.order_service),
            gateway: Some(configs.gateway),
        })
    }

    /// Gives a Spin database the schema, starts every process and waits until each is ready.
    pub async fn start(&self) -> Result<Stack> {
        crate::stack::Binaries::current().check(self.runtime)?;
        if self.runtime == Runtime::Spin {
            crate::pg::migrate(self.database_url).await?;
        }
        let mut stack = self.spawn()?;
        stack.wait_ready(START_LIMIT).await?;
        Ok(stack)
    }
}
