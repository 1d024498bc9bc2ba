//! Loading the components and serving `wasi:http/incoming-handler` over HTTP/1.1.
//!
//! Like Spin: every request gets a fresh `Store` and instance (pre-instantiated once at
//! startup), the manifest's routes pick the component, and outgoing requests go through the
//! component's `allowed_outbound_hosts`; `http://<id>.spin.internal` is dispatched in-process.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpHooks, WasiHttpView};

use crate::manifest::{self, Manifest, Template};
use crate::outbound::{service_chaining_target, AllowedHosts};
use crate::pg::PgPools;
use crate::routes::{RouteMatch, Router};
use crate::state::{ComponentRuntime, HostState};

/// Interfaces this host implements; any other import of a component is linked as a trap.
const IMPLEMENTED_INTERFACE_PREFIXES: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:io/",
    "wasi:filesystem/",
    "wasi:sockets/",
    "wasi:http/types@0.2",
    "wasi:http/outgoing-handler@0.2",
    "spin:postgres/postgres@4.0.0",
    "fermyon:spin/variables@2.0.0",
    "wasi:config/store@0.2.0-draft-2024-09-27",
];

/// How long shutdown waits for in-flight requests before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a client may take to send a request head; also closes idle keep-alive connections.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

struct LoadedComponent {
    runtime: Arc<ComponentRuntime>,
    pre: ProxyPre<HostState>,
}

pub struct App {
    router: Router,
    components: HashMap<String, LoadedComponent>,
    pg: Arc<PgPools>,
}

pub struct LoadOptions {
    /// Whether to use wasmtime's on-disk compilation cache (faster restarts).
    pub compile_cache: bool,
}

impl App {
    /// Reads, componentizes, compiles and pre-instantiates every component of the manifest.
    pub fn load(manifest_path: &Path, options: &LoadOptions) -> Result<Arc<Self>> {
        let manifest = Manifest::from_file(manifest_path)?;
        let app_values = manifest::resolve_application_variables(&manifest.variables, |name| {
            std::env::var(name).ok()
        })?;

        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        if options.compile_cache {
            match wasmtime::Cache::new(wasmtime::CacheConfig::new()) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(error) => tracing::warn!("compilation cache disabled: {error:#}"),
            }
        }
        let engine = Engine::new(&config).map_err(|e| anyhow!("creating engine: {e:#}"))?;

        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("linking WASI: {e:#}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("linking wasi-http: {e:#}"))?;
        crate::bindings::SpinHost::add_to_linker::<_, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|e| anyhow!("linking Spin interfaces: {e:#}"))?;

        let mut components = HashMap::new();
        for decl in manifest.components.values() {
            let runtime = component_runtime(decl, &app_values)?;
            let pre = load_component(&engine, &linker, &decl.id, &decl.source)?;
            components.insert(
                decl.id.clone(),
                LoadedComponent {
                    runtime: Arc::new(runtime),
                    pre,
                },
            );
        }
        let router = Router::build(&manifest.http_triggers)?;
        Ok(Arc::new(Self {
            router,
            components,
            pg: Arc::new(PgPools::default()),
        }))
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (bounded).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, client_addr) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Running out of file descriptors must not end the server.
                        tracing::warn!("accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let app = self.clone();
            let service = hyper::service::service_fn(move |request| {
                let app = app.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        app.handle_inbound(request, client_addr).await,
                    )
                }
            });
            // A client that dribbles its request head is cut off, as the Axum services do
            // (HEADER_READ_TIMEOUT_MS there), so slow clients cannot pile up connections.
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!("connection from {client_addr}: {error}");
                }
            });
        }
        drop(listener);
        tracing::info!("shutting down: waiting for in-flight requests");
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests still running after {SHUTDOWN_GRACE:?}; exiting");
        }
        Ok(())
    }

    async fn handle_inbound(
        self: Arc<Self>,
        request: hyper::Request<Incoming>,
        client_addr: SocketAddr,
    ) -> hyper::Response<HyperOutgoingBody> {
        let path = request.uri().path().to_string();
        let Some(route_match) = self.router.route(&path) else {
            tracing::debug!("no route for {path}");
            return status_response(hyper::StatusCode::NOT_FOUND);
        };
        let request =
            request.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
        match self.dispatch(&route_match, request, client_addr).await {
            Ok(response) => response,
            Err(error) => {
                tracing::error!(
                    "component {:?} failed on {path}: {error:#}",
                    route_match.component_id
                );
                status_response(hyper::StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// Runs one request through a fresh instance of the matched component.
    async fn dispatch(
        self: &Arc<Self>,
        route_match: &RouteMatch,
        mut request: hyper::Request<WasiBody>,
        client_addr: SocketAddr,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let component = self
            .components
            .get(&route_match.component_id)
            .ok_or_else(|| anyhow!("unknown component {:?}", route_match.component_id))?;

        // Spin gives the guest an absolute URI and its `spin-*` headers.
        let host = request
            .uri()
            .authority()
            .map(|authority| authority.to_string())
            .or_else(|| {
                request
                    .headers()
                    .get(http::header::HOST)
                    .and_then(|host| host.to_str().ok())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "localhost".to_string());
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".to_string());
        *request.uri_mut() = http::Uri::builder()
            .scheme("http")
            .authority(host.as_str())
            .path_and_query(path_and_query.as_str())
            .build()
            .context("building the request URI")?;
        for (name, value) in route_match.spin_headers("http", &host, &path_and_query, client_addr) {
            let name = http::HeaderName::from_bytes(name.as_bytes())?;
            match http::HeaderValue::from_str(&value) {
                Ok(value) => {
                    request.headers_mut().insert(name, value);
                }
                Err(_) => tracing::debug!("header {name} not representable; left out"),
            }
        }

        let mut wasi = WasiCtx::builder();
        // stdout belongs to this host's "listening on" line; guest output goes to stderr.
        wasi.stdout(wasmtime_wasi::cli::stderr())
            .inherit_stderr()
            .envs(&component.runtime.environment);
        let state = HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks {
                app: self.clone(),
                component: component.runtime.clone(),
            },
            component: component.runtime.clone(),
            pg: self.pg.clone(),
        };
        let mut store = Store::new(component.pre.engine(), state);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| anyhow!("{e:#}"))?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| anyhow!("{e:#}"))?;
        let pre = component.pre.clone();
        let component_id = component.runtime.id.clone();
        // The guest may keep streaming the body after it has set the response, so it runs in
        // its own task.
        let task = tokio::spawn(async move {
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| anyhow!("instantiating {component_id:?}: {e:#}"))?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
                .map_err(|e| anyhow!("{component_id:?} trapped: {e:?}"))
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error_code)) => Err(anyhow!("guest set an error response: {error_code:?}")),
            Err(_) => {
                let error = match task.await {
                    Ok(Ok(())) => anyhow!("guest never set a response"),
                    Ok(Err(error)) => error,
                    Err(join_error) => anyhow!("guest task failed: {join_error}"),
                };
                Err(error)
            }
        }
    }
}

fn status_response(status: hyper::StatusCode) -> hyper::Response<HyperOutgoingBody> {
    let body = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = status;
    response
}

fn component_runtime(
    decl: &manifest::ComponentDecl,
    app_values: &HashMap<String, String>,
) -> Result<ComponentRuntime> {
    let variables = manifest::resolve_component_variables(decl, app_values)?;
    let allowed: Vec<String> = decl
        .allowed_outbound_hosts
        .iter()
        .map(|entry| Template::parse(entry)?.render(app_values))
        .collect::<Result<_>>()
        .with_context(|| format!("component {:?} allowed_outbound_hosts", decl.id))?;
    let allowed_hosts = AllowedHosts::parse(&allowed)
        .with_context(|| format!("component {:?} allowed_outbound_hosts", decl.id))?;
    tracing::info!(
        component = decl.id.as_str(),
        "allowed_outbound_hosts: {allowed:?}; variables: {:?}",
        variables.keys().collect::<Vec<_>>()
    );
    Ok(ComponentRuntime {
        id: decl.id.clone(),
        variables,
        allowed_hosts,
        environment: decl
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

/// Turns a wasm32-wasip1 module into a component with the preview1 reactor adapter, as Spin does;
/// a component is used as is.
pub fn componentize(wasm: &[u8]) -> Result<Vec<u8>> {
    if wasmparser::Parser::is_component(wasm) {
        return Ok(wasm.to_vec());
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(wasm)
        .context("reading the core module's component-type section")?
        .adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .context("adding the wasi_snapshot_preview1 reactor adapter")?
        .encode()
        .context("encoding the component")
}

fn load_component(
    engine: &Engine,
    linker: &Linker<HostState>,
    id: &str,
    source: &Path,
) -> Result<ProxyPre<HostState>> {
    let wasm = std::fs::read(source)
        .with_context(|| format!("component {id:?}: reading {}", source.display()))?;
    let component_bytes =
        componentize(&wasm).with_context(|| format!("component {id:?}: componentizing"))?;
    let started = std::time::Instant::now();
    let component = Component::new(engine, &component_bytes)
        .map_err(|e| anyhow!("component {id:?}: compiling: {e:#}"))?;
    tracing::info!(component = id, "compiled in {:?}", started.elapsed());

    let mut linker = linker.clone();
    let mut unimplemented = Vec::new();
    for (name, _) in component.component_type().imports(engine) {
        tracing::debug!(component = id, "imports {name}");
        if !IMPLEMENTED_INTERFACE_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            unimplemented.push(name.to_string());
        }
    }
    if !unimplemented.is_empty() {
        for name in &unimplemented {
            tracing::warn!(
                component = id,
                "imports {name}, which this host does not implement: calling it traps"
            );
        }
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(|e| anyhow!("component {id:?}: {e:#}"))?;
    }
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| anyhow!("component {id:?}: linking: {e:#}"))?;
    ProxyPre::new(instance_pre)
        .map_err(|e| anyhow!("component {id:?} does not export wasi:http/incoming-handler: {e:#}"))
}

/// Outgoing HTTP for one instance: enforces `allowed_outbound_hosts` and dispatches
/// `*.spin.internal` to the named component in-process.
pub struct OutboundHooks {
    app: Arc<App>,
    component: Arc<ComponentRuntime>,
}

type IoFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), wasmtime_wasi_http::Error>>
        + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let uri = request.uri().clone();
        let scheme = uri.scheme_str().unwrap_or("http").to_string();
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri.port_u16();
        if !self.component.allowed_hosts.allows(&scheme, &host, port) {
            tracing::warn!(
                component = self.component.id.as_str(),
                "outbound request to {scheme}://{} denied: not in allowed_outbound_hosts",
                uri.authority().map(|a| a.as_str()).unwrap_or_default()
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }

        if let Some(target) = service_chaining_target(&host) {
            let target = target.to_string();
            let app = self.app.clone();
            // Spin removes a service-chaining Host header before handing the request on.
            request.headers_mut().remove(http::header::HOST);
            return Box::new(async move {
                let path = request.uri().path().to_string();
                let route_match = RouteMatch::synthetic(&target, &path);
                if !app.components.contains_key(&target) {
                    return Err(wasmtime_wasi_http::Error::DestinationNotFound);
                }
                let chained_client: SocketAddr = ([127, 0, 0, 1], 0).into();
                let response = app
                    .dispatch(&route_match, request, chained_client)
                    .await
                    .map_err(|error| {
                        tracing::error!("service chaining to {target:?} failed: {error:#}");
                        wasmtime_wasi_http::Error::InternalError(Some(error.to_string()))
                    })?;
                Ok((response, Box::new(async { Ok(()) }) as IoFuture))
            });
        }

        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as IoFuture,
            ))
        })
    }
}
