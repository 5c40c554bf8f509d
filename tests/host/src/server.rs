//! The HTTP front: hyper 1 (HTTP/1.1, keep-alive) on tokio, routing, and Spin's request headers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONNECTION, HOST};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::routes::{RouteMatch, Router};
use crate::runtime::PreparedComponent;

/// Spin's reserved path prefix; only the health check is answered here.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// The application as served: routes and prepared components.
pub struct App {
    /// The router built from the manifest's triggers.
    pub router: Router,
    /// Prepared components by id.
    pub components: HashMap<String, Arc<PreparedComponent>>,
    /// One permit per component instance the pool can hold: a request that
    /// finds none is shed with 503 and `Retry-After` instead of failing
    /// inside the allocator with a 500.
    pub instances: Arc<tokio::sync::Semaphore>,
}

/// `Retry-After` for requests shed because every instance slot is busy.
const OVERLOAD_RETRY_AFTER_SECONDS: u32 = 1;

/// Accepts connections forever, serving each on its own task.
pub async fn accept_loop(listener: TcpListener, app: Arc<App>) {
    loop {
        let (stream, client_addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Accept errors (for example running out of file descriptors) are transient:
                // report and keep accepting, as a server under load should.
                eprintln!("booking-host: accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(
                    ACCEPT_RETRY_DELAY_MILLISECONDS,
                ))
                .await;
                continue;
            }
        };
        // Small responses must not wait for Nagle's algorithm and delayed acknowledgements.
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let app = Arc::clone(&app);
                async move {
                    Ok::<_, std::convert::Infallible>(handle(&app, request, client_addr).await)
                }
            });
            // Client disconnects mid-request are normal under load tests and are not reported.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// How long to pause after a failed `accept`, in milliseconds.
const ACCEPT_RETRY_DELAY_MILLISECONDS: u64 = 50;

fn empty_response(status: StatusCode) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

/// The answer to a request shed because every instance slot is busy: a
/// problem document with `Retry-After`, like the components' own 503s.
fn overloaded_response() -> Response<HyperOutgoingBody> {
    let body: &'static str = "{\"type\":\"https://booking.example/problems/overloaded\",\
        \"title\":\"Overloaded\",\"status\":503,\
        \"detail\":\"every instance slot is busy; retry shortly\"}";
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::RETRY_AFTER,
        HeaderValue::from(OVERLOAD_RETRY_AFTER_SECONDS),
    );
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// Serves one request: well-known paths, routing, Spin headers, then the component.
pub async fn handle(
    app: &App,
    mut request: Request<Incoming>,
    client_addr: SocketAddr,
) -> Response<HyperOutgoingBody> {
    let path = request.uri().path().to_owned();
    if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
        if well_known == "health" {
            return Response::new(
                Full::new(Bytes::from_static(b"OK"))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
        }
        return empty_response(StatusCode::NOT_FOUND);
    }
    let Some(matched) = app.router.route(&path) else {
        return empty_response(StatusCode::NOT_FOUND);
    };
    let Some(component) = app.components.get(matched.component) else {
        eprintln!(
            "booking-host: route {:?} points at unknown component {:?}",
            matched.raw_route, matched.component
        );
        return empty_response(StatusCode::INTERNAL_SERVER_ERROR);
    };
    if let Err(error) = prepare_request(&mut request, &matched, client_addr) {
        eprintln!("booking-host: bad request to {path:?}: {error:#}");
        return empty_response(StatusCode::BAD_REQUEST);
    }
    let Ok(permit) = Arc::clone(&app.instances).try_acquire_owned() else {
        return overloaded_response();
    };
    match component.handle(request, permit).await {
        Some(response) => response,
        None => empty_response(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Makes the URI absolute and adds the headers Spin gives a component.
fn prepare_request(
    request: &mut Request<Incoming>,
    matched: &RouteMatch<'_>,
    client_addr: SocketAddr,
) -> anyhow::Result<()> {
    // Spin drops `Connection`: it describes this hop only and breaks guests that forward it.
    request.headers_mut().remove(CONNECTION);

    let host = match request.headers().get(HOST) {
        Some(value) => value.to_str()?.to_owned(),
        None => request
            .uri()
            .authority()
            .map(|authority| authority.to_string())
            .unwrap_or_else(|| "localhost".to_owned()),
    };
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    let full_url = format!("http://{host}{path_and_query}");
    *request.uri_mut() = Uri::builder()
        .scheme("http")
        .authority(host.as_str())
        .path_and_query(path_and_query.as_str())
        .build()?;

    let mut spin_headers: Vec<(HeaderName, String)> = vec![
        (
            HeaderName::from_static("spin-path-info"),
            matched.path_info.clone(),
        ),
        (HeaderName::from_static("spin-full-url"), full_url),
        (
            HeaderName::from_static("spin-matched-route"),
            matched.based_route.to_owned(),
        ),
        (HeaderName::from_static("spin-base-path"), "/".to_owned()),
        (
            HeaderName::from_static("spin-raw-component-route"),
            matched.raw_route.to_owned(),
        ),
        (
            HeaderName::from_static("spin-component-route"),
            matched.raw_route_or_prefix.to_owned(),
        ),
        (
            HeaderName::from_static("spin-client-addr"),
            client_addr.to_string(),
        ),
    ];
    // One header per `:name` parameter, named as Spin names it: SPIN_PATH_MATCH_<NAME> turned
    // into a lower-case, dash-separated header name.
    for (name, value) in &matched.params {
        let header = format!(
            "spin-path-match-{}",
            name.replace('_', "-").to_ascii_lowercase()
        );
        spin_headers.push((HeaderName::try_from(header)?, value.clone()));
    }
    let headers = request.headers_mut();
    for (name, value) in spin_headers {
        headers.insert(name, HeaderValue::try_from(value)?);
    }
    Ok(())
}
