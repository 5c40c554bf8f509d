//! The HTTP front: hyper 1 (HTTP/1.1, keep-alive) on tokio, routing, and Spin's request headers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::kv::Stores;
use crate::routes::{RouteMatch, Router};
use crate::runtime::PreparedComponent;

/// Spin's reserved path prefix: `health` and `info` are answered here, anything else is 404.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// The application as served: routes and prepared components.
pub struct App {
    /// The router built from the manifest's triggers.
    pub router: Router,
    /// Prepared components by id.
    pub components: HashMap<String, Arc<PreparedComponent>>,
    /// `--shed-load` only: admission control in front of the instance pool. Without it (Spin's
    /// behaviour) every request goes to the pool, and one that finds it exhausted fails to
    /// instantiate and gets an empty 500.
    pub shedding: Option<Shedding>,
    /// The body of `/.well-known/spin/info` (Spin's `AppInfo`: name, version).
    pub info: Bytes,
    /// `--kv-calls-endpoint` only: the stores whose call counts
    /// [`booking_host_spawn::KV_CALLS_PATH`] answers.
    pub kv_calls: Option<Arc<Stores>>,
}

/// Load shedding (`--shed-load`, not Spin's behaviour): one permit per admitted request; a
/// request that finds none is answered with a problem+json 503 and `Retry-After`.
pub struct Shedding {
    /// The admission permits (90% of the pool's instances).
    pub slots: Arc<tokio::sync::Semaphore>,
    /// `Access-Control-Allow-Origin` of the 503: the application's `cors_origin` variable, as
    /// the components send it; `None` (no header) when the application declares none.
    pub cors_origin: Option<HeaderValue>,
}

/// `Retry-After` for requests shed because every instance slot is busy.
const OVERLOAD_RETRY_AFTER_SECONDS: u32 = 1;

/// Why a request gets no HTTP answer at all: Spin's service fails on it, and hyper then closes
/// the connection without a response.
#[derive(Debug)]
pub struct NoAnswer(String);

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoAnswer {}

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
                    let answer = handle(&app, request, client_addr).await;
                    if let Err(error) = &answer {
                        eprintln!("booking-host: no answer, closing the connection: {error}");
                    }
                    answer
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

fn full_response(body: Bytes) -> Response<HyperOutgoingBody> {
    Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

/// The answer to a request shed because every instance slot is busy (`--shed-load` only): a
/// problem document with `Retry-After`, like the components' own 503s.
fn overloaded_response(cors_origin: Option<&HeaderValue>) -> Response<HyperOutgoingBody> {
    let body: &'static str = "{\"type\":\"https://booking.example/problems/overloaded\",\
        \"title\":\"Overloaded\",\"status\":503,\
        \"detail\":\"every instance slot is busy; retry shortly\"}";
    let mut response = full_response(Bytes::from_static(body.as_bytes()));
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
    if let Some(origin) = cors_origin {
        headers.insert(hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    response
}

/// Serves one request as Spin's HTTP trigger does: well-known paths, routing, the request's
/// URI and Spin's headers, then the component.
///
/// `Err` means no answer at all (hyper closes the connection), as Spin does when it cannot
/// work out the request's authority: a `Host` header that is not UTF-8 or not an authority,
/// no `Host` and no authority in the URI, or the two disagreeing.
pub async fn handle(
    app: &App,
    mut request: Request<Incoming>,
    client_addr: SocketAddr,
) -> Result<Response<HyperOutgoingBody>, NoAnswer> {
    let path = request.uri().path().to_owned();
    if let Some(stores) = &app.kv_calls
        && path == booking_host_spawn::KV_CALLS_PATH
    {
        let mut response = full_response(Bytes::from(stores.calls_report()));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return Ok(response);
    }
    if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
        return Ok(match well_known {
            "health" => full_response(Bytes::from_static(b"OK")),
            "info" => {
                let mut response = full_response(app.info.clone());
                response.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            _ => empty_response(StatusCode::NOT_FOUND),
        });
    }
    let Some(matched) = app.router.route(&path) else {
        return Ok(empty_response(StatusCode::NOT_FOUND));
    };
    set_request_uri(&mut request).map_err(|error| NoAnswer(format!("{path}: {error}")))?;
    let Some(component) = app.components.get(matched.component) else {
        eprintln!(
            "booking-host: route {:?} points at unknown component {:?}",
            matched.raw_route, matched.component
        );
        return Ok(empty_response(StatusCode::INTERNAL_SERVER_ERROR));
    };
    // Spin prepares the headers before it instantiates: a failure is its empty 500, and no
    // component runs.
    if let Err(error) = prepare_headers(&mut request, &matched, client_addr) {
        eprintln!("booking-host: request to {path:?} refused before the component: {error:#}");
        return Ok(empty_response(StatusCode::INTERNAL_SERVER_ERROR));
    }
    let slot = match &app.shedding {
        None => None,
        Some(shedding) => match Arc::clone(&shedding.slots).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return Ok(overloaded_response(shedding.cors_origin.as_ref())),
        },
    };
    Ok(match component.handle(request, slot).await {
        Some(response) => response,
        None => empty_response(StatusCode::INTERNAL_SERVER_ERROR),
    })
}

/// Makes the URI absolute, `http://AUTHORITY/path?query`, as Spin's `set_req_uri` does: the
/// authority comes from the `Host` header or the request line, and must be unambiguous.
fn set_request_uri(request: &mut Request<Incoming>) -> anyhow::Result<()> {
    let header_authority = request
        .headers()
        .get(HOST)
        .map(|value| -> anyhow::Result<Authority> {
            let text = value
                .to_str()
                .map_err(|_| anyhow::anyhow!("'Host' header is not valid UTF-8"))?;
            text.parse()
                .map_err(|_| anyhow::anyhow!("'Host' header contains an invalid authority"))
        })
        .transpose()?;
    let mut parts = request.uri().clone().into_parts();
    let authority = match (header_authority, parts.authority.take()) {
        (None, None) => anyhow::bail!("no 'Host' header present in request"),
        (None, Some(authority)) | (Some(authority), None) => authority,
        (Some(from_header), Some(from_uri)) => {
            if from_header != from_uri {
                anyhow::bail!("authority in 'Host' header does not match authority in URI");
            }
            from_header
        }
    };
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(PathAndQuery::from_static("/"));
    }
    *request.uri_mut() = Uri::from_parts(parts)?;
    Ok(())
}

/// Gives the request Spin's header set, as Spin's WASI HTTP executor builds it: every header
/// the client sent (a value that is not UTF-8 fails the request), then the `spin-*` headers
/// appended after them (a client-sent `spin-path-info` stays, ahead of Spin's own).
fn prepare_headers(
    request: &mut Request<Incoming>,
    matched: &RouteMatch<'_>,
    client_addr: SocketAddr,
) -> anyhow::Result<()> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in request.headers() {
        let value = std::str::from_utf8(value.as_bytes())
            .map_err(|_| anyhow::anyhow!("the value of header {name:?} is not valid UTF-8"))?;
        headers.push((name.to_string(), value.to_owned()));
    }
    let host = match request.headers().get(HOST) {
        Some(value) => std::str::from_utf8(value.as_bytes())?.to_owned(),
        None => "localhost".to_owned(),
    };
    let path_and_query = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let scheme = request.uri().scheme_str().unwrap_or("http");
    let full_url = format!("{scheme}://{host}{path_and_query}");
    headers.extend([
        ("spin-path-info".to_owned(), matched.path_info.clone()),
        ("spin-full-url".to_owned(), full_url),
        (
            "spin-matched-route".to_owned(),
            matched.based_route.to_owned(),
        ),
        ("spin-base-path".to_owned(), "/".to_owned()),
        (
            "spin-raw-component-route".to_owned(),
            matched.raw_route.to_owned(),
        ),
        (
            "spin-component-route".to_owned(),
            matched.raw_route_or_prefix.to_owned(),
        ),
        ("spin-client-addr".to_owned(), client_addr.to_string()),
    ]);
    // One header per `:name` parameter, named as Spin names it: SPIN_PATH_MATCH_<NAME> turned
    // into a lower-case, dash-separated header name.
    for (name, value) in &matched.params {
        let header = format!("SPIN_PATH_MATCH_{}", name.to_ascii_uppercase())
            .replace('_', "-")
            .to_ascii_lowercase();
        headers.push((header, value.clone()));
    }
    // Spin clears the headers and appends the list back, silently skipping any pair that is
    // not a valid header name and value.
    let map = request.headers_mut();
    map.clear();
    map.extend(headers.into_iter().filter_map(|(name, value)| {
        let name = name.parse::<HeaderName>().ok()?;
        let value = HeaderValue::from_bytes(value.as_bytes()).ok()?;
        Some((name, value))
    }));
    Ok(())
}
