//! booking-pg-peer: the classic design, for comparison with the CAS design.
//!
//! A native axum service with the booking routes the load tool uses, each a
//! PostgreSQL transaction that serialises buyers with row locks: the section
//! row is locked (`SELECT … FOR UPDATE`), stock is taken with a conditional
//! `UPDATE … WHERE available >= $n`, seats with `FOR UPDATE` on their rows.
//! Same JSON contract subset as the Spin app (hold, confirm, release, hold
//! read, availability, event creation, Idempotency-Key with stored answers).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use clap::Parser;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde_json::{Value, json};
use tokio_postgres::{NoTls, error::SqlState};

/// Units per hold, as in the Spin app.
const MAX_UNITS_PER_HOLD: i64 = 10;
/// How long a request waits for a pooled connection before a 503.
const POOL_WAIT_SECONDS: u64 = 5;
/// Retry-After on a 503.
const RETRY_AFTER_SECONDS: u64 = 1;
const PROBLEM_BASE: &str = "https://booking.example/problems/";

#[derive(Parser, Debug)]
#[command(
    version,
    about = "The booking routes over PostgreSQL row locks (benchmark peer)"
)]
struct Cli {
    /// Address to listen on; the chosen one is printed as `Serving http://…`.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// libpq-style connection string, e.g. `host=/tmp/pg port=5432 user=postgres dbname=postgres`.
    #[arg(long, env = "PEER_DATABASE_URL")]
    database_url: String,
    /// Bearer token for `PUT /events/:id`.
    #[arg(long, env = "BOOKING_ADMIN_TOKEN")]
    admin_token: String,
    /// Pooled connections (PostgreSQL's default max_connections is 100).
    #[arg(long, default_value_t = 32)]
    pool_size: usize,
    /// Default hold lifetime for events that set none.
    #[arg(long, default_value_t = 300)]
    hold_ttl_seconds: i32,
}

struct App {
    pool: Pool,
    admin_token: String,
    hold_ttl_seconds: i32,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id text PRIMARY KEY, definition jsonb NOT NULL, hold_ttl_seconds int NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS sections (
    event_id text NOT NULL, id text NOT NULL, ordinal int NOT NULL, kind text NOT NULL,
    capacity int NOT NULL, available int NOT NULL, held int NOT NULL, sold int NOT NULL,
    PRIMARY KEY (event_id, id));
CREATE TABLE IF NOT EXISTS seats (
    event_id text NOT NULL, section_id text NOT NULL, seat_id text NOT NULL,
    state text NOT NULL, hold_id text, PRIMARY KEY (event_id, section_id, seat_id));
CREATE TABLE IF NOT EXISTS holds (
    id text PRIMARY KEY, event_id text NOT NULL, section_id text NOT NULL, quantity int NOT NULL,
    seats text[], customer_id text, status text NOT NULL, created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL, booking_id text, payment_ref text, confirmed_at timestamptz);
CREATE INDEX IF NOT EXISTS seats_hold ON seats (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS holds_live ON holds (event_id, section_id, expires_at) WHERE status = 'held';
CREATE TABLE IF NOT EXISTS idempotency (
    event_id text NOT NULL, key text NOT NULL, request jsonb NOT NULL, status int, body jsonb,
    PRIMARY KEY (event_id, key));
";

/// The hold as JSON, with times in RFC 3339 UTC like the Spin app.
const HOLD_SELECT: &str = "SELECT id, event_id, section_id, quantity, seats, customer_id,
    CASE WHEN status = 'held' AND expires_at <= now() THEN 'expired' ELSE status END,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
    to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
    booking_id, payment_ref,
    to_char(confirmed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
    FROM holds WHERE id = $1";

fn hold_json(row: &tokio_postgres::Row) -> Value {
    let mut body = json!({
        "hold_id": row.get::<_, String>(0),
        "event_id": row.get::<_, String>(1),
        "section": row.get::<_, String>(2),
        "quantity": row.get::<_, i32>(3),
        "customer_id": row.get::<_, Option<String>>(5),
        "status": row.get::<_, String>(6),
        "created_at": row.get::<_, Option<String>>(7),
        "expires_at": row.get::<_, Option<String>>(8),
    });
    if let Some(seats) = row.get::<_, Option<Vec<String>>>(4) {
        body["seats"] = json!(seats);
    }
    if let Some(booking) = row.get::<_, Option<String>>(9) {
        body["booking_id"] = json!(booking);
        body["payment_ref"] = json!(row.get::<_, Option<String>>(10));
        body["confirmed_at"] = json!(row.get::<_, Option<String>>(11));
    }
    body
}

/// An answer: status and JSON body (problem documents for errors).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn ok(status: StatusCode, body: Value) -> Self {
        Self { status, body }
    }

    fn problem(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({
                "type": format!("{PROBLEM_BASE}{slug}"),
                "title": slug.replace('-', " "),
                "status": status.as_u16(),
                "detail": detail.into(),
            }),
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let problem = self.status.is_client_error() || self.status.is_server_error();
        let mut response = (self.status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        if problem {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        headers.insert("x-cas-retries", HeaderValue::from_static("0"));
        response
    }
}

/// Database failures: lock timeouts, deadlocks and an exhausted pool are
/// "busy, retry" (503 with Retry-After); anything else is a 500.
#[derive(Debug)]
enum Failure {
    Busy(String),
    Internal(String),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        let busy = e.code().is_some_and(|c| {
            [
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::LOCK_NOT_AVAILABLE,
            ]
            .contains(c)
        });
        if busy {
            Failure::Busy(e.to_string())
        } else {
            Failure::Internal(format!("{e:?}"))
        }
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Failure::Busy(e.to_string())
    }
}

fn answer(result: Result<Answer, Failure>) -> Answer {
    match result {
        Ok(a) => a,
        Err(Failure::Busy(detail)) => {
            Answer::problem(StatusCode::SERVICE_UNAVAILABLE, "busy", detail)
        }
        Err(Failure::Internal(detail)) => {
            eprintln!("internal error: {detail}");
            Answer::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "database error",
            )
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let pg: tokio_postgres::Config = cli.database_url.parse().context("--database-url")?;
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(cli.pool_size)
        .wait_timeout(Some(Duration::from_secs(POOL_WAIT_SECONDS)))
        .runtime(Runtime::Tokio1)
        .build()
        .context("connection pool")?;
    pool.get()
        .await
        .context("connect to PostgreSQL")?
        .batch_execute(SCHEMA)
        .await
        .context("schema")?;
    let app = Arc::new(App {
        pool,
        admin_token: cli.admin_token,
        hold_ttl_seconds: cli.hold_ttl_seconds,
    });
    let router = Router::new()
        .route("/events/{event_id}", put(put_event))
        .route("/events/{event_id}/availability", get(availability))
        .route("/events/{event_id}/holds", post(create_hold))
        .route("/holds/{hold_id}", get(read_hold).delete(release))
        .route("/holds/{hold_id}/confirm", post(confirm))
        .route("/holds/{hold_id}/release", post(release))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    println!("Serving http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}

fn body_json(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        Some(json!({}))
    } else {
        serde_json::from_slice(body).ok()
    }
}

async fn put_event(
    State(app): State<Arc<App>>,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| !app.admin_token.is_empty() && t == app.admin_token);
    if !authorized {
        return Answer::problem(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin token required",
        );
    }
    let Some(definition) = body_json(&body) else {
        return Answer::problem(StatusCode::BAD_REQUEST, "invalid-json", "body is not JSON");
    };
    answer(put_event_tx(&app, &event_id, definition).await)
}

async fn put_event_tx(app: &App, event_id: &str, definition: Value) -> Result<Answer, Failure> {
    let Some(sections) = definition.get("sections").and_then(Value::as_array) else {
        return Ok(Answer::problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-event",
            "sections missing",
        ));
    };
    let ttl = definition
        .get("hold_ttl_seconds")
        .and_then(Value::as_i64)
        .and_then(|t| i32::try_from(t).ok())
        .unwrap_or(app.hold_ttl_seconds);
    let mut client = app.pool.get().await?;
    let tx = client.transaction().await?;
    let inserted = tx
        .execute(
            "INSERT INTO events (id, definition, hold_ttl_seconds) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&event_id, &definition, &ttl],
        )
        .await?;
    if inserted == 0 {
        let row = tx
            .query_one("SELECT definition FROM events WHERE id = $1", &[&event_id])
            .await?;
        let existing: Value = row.get(0);
        return Ok(if existing == definition {
            Answer::ok(StatusCode::OK, definition)
        } else {
            Answer::problem(
                StatusCode::CONFLICT,
                "event-conflict",
                "another definition exists",
            )
        });
    }
    for (ordinal, section) in sections.iter().enumerate() {
        let id = section
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let seats: Option<Vec<String>> = section.get("seats").and_then(Value::as_array).map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        });
        let (kind, capacity) = match &seats {
            Some(s) => ("seated", i32::try_from(s.len()).unwrap_or(i32::MAX)),
            None => (
                "general",
                section
                    .get("capacity")
                    .and_then(Value::as_i64)
                    .and_then(|c| i32::try_from(c).ok())
                    .unwrap_or(0),
            ),
        };
        if id.is_empty() || capacity <= 0 {
            return Ok(Answer::problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-event",
                "bad section",
            ));
        }
        let ordinal = i32::try_from(ordinal).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO sections (event_id, id, ordinal, kind, capacity, available, held, sold)
             VALUES ($1, $2, $3, $4, $5, $5, 0, 0)",
            &[&event_id, &id, &ordinal, &kind, &capacity],
        )
        .await?;
        if let Some(seats) = seats {
            tx.execute(
                "INSERT INTO seats (event_id, section_id, seat_id, state)
                 SELECT $1, $2, s, 'available' FROM unnest($3::text[]) AS s",
                &[&event_id, &id, &seats],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Answer::ok(StatusCode::CREATED, definition))
}

async fn availability(State(app): State<Arc<App>>, Path(event_id): Path<String>) -> Answer {
    answer(availability_query(&app, &event_id).await)
}

async fn availability_query(app: &App, event_id: &str) -> Result<Answer, Failure> {
    let client = app.pool.get().await?;
    // Held units whose hold has expired count as available at once (as in the Spin app).
    let rows = client
        .query(
            "SELECT s.id, s.kind, s.capacity, s.available, s.held, s.sold,
                COALESCE((SELECT sum(h.quantity) FROM holds h WHERE h.event_id = s.event_id
                    AND h.section_id = s.id AND h.status = 'held' AND h.expires_at <= now()), 0)::int,
                CASE WHEN s.kind = 'seated' THEN ARRAY(
                    SELECT st.seat_id FROM seats st LEFT JOIN holds h ON h.id = st.hold_id
                    WHERE st.event_id = s.event_id AND st.section_id = s.id
                      AND (st.state = 'available' OR (st.state = 'held' AND h.status = 'held' AND h.expires_at <= now()))
                    ORDER BY st.seat_id) END,
                to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
             FROM sections s WHERE s.event_id = $1 ORDER BY s.ordinal",
            &[&event_id],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Answer::problem(
            StatusCode::NOT_FOUND,
            "event-not-found",
            "no such event",
        ));
    }
    let mut as_of = String::new();
    let sections: Vec<Value> = rows
        .iter()
        .map(|r| {
            let expired: i32 = r.get(6);
            let mut s = json!({
                "id": r.get::<_, String>(0),
                "kind": r.get::<_, String>(1),
                "capacity": r.get::<_, i32>(2),
                "available": r.get::<_, i32>(3) + expired,
                "held": r.get::<_, i32>(4) - expired,
                "sold": r.get::<_, i32>(5),
            });
            if let Some(seats) = r.get::<_, Option<Vec<String>>>(7) {
                s["available_seats"] = json!(seats);
            }
            as_of = r.get(8);
            s
        })
        .collect();
    Ok(Answer::ok(
        StatusCode::OK,
        json!({ "event_id": event_id, "sections": sections, "as_of": as_of }),
    ))
}

async fn create_hold(
    State(app): State<Arc<App>>,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    let Some(request) = body_json(&body) else {
        return Answer::problem(StatusCode::BAD_REQUEST, "invalid-json", "body is not JSON");
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    answer(hold_tx(&app, &event_id, key.as_deref(), request).await)
}

async fn hold_tx(
    app: &App,
    event_id: &str,
    key: Option<&str>,
    request: Value,
) -> Result<Answer, Failure> {
    let section = request
        .get("section")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let seats: Option<Vec<String>> = request.get("seats").and_then(Value::as_array).map(|s| {
        s.iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    });
    let quantity = match &seats {
        Some(s) => i64::try_from(s.len()).unwrap_or(i64::MAX),
        None => request.get("quantity").and_then(Value::as_i64).unwrap_or(0),
    };
    if !(1..=MAX_UNITS_PER_HOLD).contains(&quantity) {
        return Ok(Answer::problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-quantity",
            "1..=10 units",
        ));
    }
    let quantity = i32::try_from(quantity).unwrap_or(0);
    let customer = request
        .get("customer_id")
        .and_then(Value::as_str)
        .map(str::to_owned);

    let mut client = app.pool.get().await?;
    let tx = client.transaction().await?;
    if let Some(key) = key {
        // A concurrent insert of the same key waits here until the first commits.
        let fresh = tx
            .execute(
                "INSERT INTO idempotency (event_id, key, request) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&event_id, &key, &request],
            )
            .await?;
        if fresh == 0 {
            let row = tx
                .query_one("SELECT request, status, body FROM idempotency WHERE event_id = $1 AND key = $2", &[
                    &event_id, &key,
                ])
                .await?;
            let stored: Value = row.get(0);
            if stored != request {
                return Ok(Answer::problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    "other body",
                ));
            }
            let status = row
                .get::<_, Option<i32>>(1)
                .and_then(|s| u16::try_from(s).ok());
            let status = status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::CONFLICT);
            return Ok(Answer::ok(
                status,
                row.get::<_, Option<Value>>(2).unwrap_or(Value::Null),
            ));
        }
    }
    let outcome = take_units(
        &tx,
        event_id,
        &section,
        quantity,
        seats.as_deref(),
        customer.as_deref(),
    )
    .await?;
    if let Some(key) = key {
        let status = i32::from(outcome.status.as_u16());
        tx.execute(
            "UPDATE idempotency SET status = $3, body = $4 WHERE event_id = $1 AND key = $2",
            &[&event_id, &key, &status, &outcome.body],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Frees the section's expired holds, under the section's row lock.
async fn reclaim_expired(
    tx: &impl GenericClient,
    event_id: &str,
    section: &str,
) -> Result<(), Failure> {
    let rows = tx
        .query(
            "UPDATE holds SET status = 'expired' WHERE event_id = $1 AND section_id = $2
               AND status = 'held' AND expires_at <= now() RETURNING id, quantity",
            &[&event_id, &section],
        )
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let units: i32 = rows.iter().map(|r| r.get::<_, i32>(1)).sum();
    tx.execute(
        "UPDATE sections SET available = available + $3, held = held - $3 WHERE event_id = $1 AND id = $2",
        &[&event_id, &section, &units],
    )
    .await?;
    tx.execute(
        "UPDATE seats SET state = 'available', hold_id = NULL WHERE event_id = $1 AND section_id = $2
           AND hold_id = ANY($3)",
        &[&event_id, &section, &ids],
    )
    .await?;
    Ok(())
}

async fn take_units(
    tx: &impl GenericClient,
    event_id: &str,
    section: &str,
    quantity: i32,
    seats: Option<&[String]>,
    customer: Option<&str>,
) -> Result<Answer, Failure> {
    // The classic serialisation point: every buyer of the section queues on this row lock.
    let Some(row) = tx
        .query_opt(
            "SELECT s.kind, e.hold_ttl_seconds FROM sections s JOIN events e ON e.id = s.event_id
             WHERE s.event_id = $1 AND s.id = $2 FOR UPDATE OF s",
            &[&event_id, &section],
        )
        .await?
    else {
        return Ok(Answer::problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "no such event or section",
        ));
    };
    let kind: String = row.get(0);
    let ttl: i32 = row.get(1);
    reclaim_expired(tx, event_id, section).await?;
    let hold_id = format!("pg-{}", uuid::Uuid::new_v4().simple());
    match (kind.as_str(), seats) {
        ("seated", Some(seats)) => {
            let mut wanted = seats.to_vec();
            wanted.sort();
            wanted.dedup();
            if wanted.len() != seats.len() {
                return Ok(Answer::problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-seats",
                    "duplicate seat",
                ));
            }
            let rows = tx
                .query(
                    "SELECT seat_id, state FROM seats WHERE event_id = $1 AND section_id = $2
                       AND seat_id = ANY($3) ORDER BY seat_id FOR UPDATE",
                    &[&event_id, &section, &wanted],
                )
                .await?;
            if rows.len() != wanted.len() {
                return Ok(Answer::problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown-seats",
                    "no such seat",
                ));
            }
            let taken: Vec<String> = rows
                .iter()
                .filter(|r| r.get::<_, String>(1) != "available")
                .map(|r| r.get(0))
                .collect();
            if !taken.is_empty() {
                let mut problem =
                    Answer::problem(StatusCode::CONFLICT, "seats-unavailable", "seats taken");
                problem.body["seats"] = json!(taken);
                return Ok(problem);
            }
            tx.execute(
                "UPDATE seats SET state = 'held', hold_id = $4 WHERE event_id = $1 AND section_id = $2
                   AND seat_id = ANY($3)",
                &[&event_id, &section, &wanted, &hold_id],
            )
            .await?;
            tx.execute(
                "UPDATE sections SET available = available - $3, held = held + $3 WHERE event_id = $1 AND id = $2",
                &[&event_id, &section, &quantity],
            )
            .await?;
        }
        ("general", None) => {
            let took = tx
                .query_opt(
                    "UPDATE sections SET available = available - $3, held = held + $3
                     WHERE event_id = $1 AND id = $2 AND available >= $3 RETURNING available",
                    &[&event_id, &section, &quantity],
                )
                .await?;
            if took.is_none() {
                let left: i32 = tx
                    .query_one(
                        "SELECT available FROM sections WHERE event_id = $1 AND id = $2",
                        &[&event_id, &section],
                    )
                    .await?
                    .get(0);
                let mut problem = Answer::problem(
                    StatusCode::CONFLICT,
                    "sold-out",
                    format!("{quantity} requested, {left} available"),
                );
                problem.body["available"] = json!(left);
                return Ok(problem);
            }
        }
        _ => {
            return Ok(Answer::problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-hold",
                "quantity or seats",
            ));
        }
    }
    let ttl_seconds = f64::from(ttl);
    tx.execute(
        "INSERT INTO holds (id, event_id, section_id, quantity, seats, customer_id, status, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'held', now(), now() + make_interval(secs => $7))",
        &[&hold_id, &event_id, &section, &quantity, &seats, &customer, &ttl_seconds],
    )
    .await?;
    let row = tx.query_one(HOLD_SELECT, &[&hold_id]).await?;
    Ok(Answer::ok(StatusCode::CREATED, hold_json(&row)))
}

async fn read_hold(State(app): State<Arc<App>>, Path(hold_id): Path<String>) -> Answer {
    answer(read_hold_query(&app, &hold_id).await)
}

async fn read_hold_query(app: &App, hold_id: &str) -> Result<Answer, Failure> {
    let client = app.pool.get().await?;
    Ok(match client.query_opt(HOLD_SELECT, &[&hold_id]).await? {
        Some(row) => Answer::ok(StatusCode::OK, hold_json(&row)),
        None => Answer::problem(StatusCode::NOT_FOUND, "hold-not-found", "no such hold"),
    })
}

async fn confirm(
    State(app): State<Arc<App>>,
    Path(hold_id): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let payment_ref = body_json(&body).and_then(|b| {
        b.get("payment_ref")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    answer(resolve_tx(&app, &hold_id, Some(payment_ref)).await)
}

async fn release(State(app): State<Arc<App>>, Path(hold_id): Path<String>) -> Answer {
    answer(resolve_tx(&app, &hold_id, None).await)
}

/// Confirm (`Some(payment_ref)`) or release (`None`) a hold. Locks the
/// section row first, then the hold row — the order every writer uses, so
/// no two transactions can deadlock.
async fn resolve_tx(
    app: &App,
    hold_id: &str,
    confirm: Option<Option<String>>,
) -> Result<Answer, Failure> {
    let mut client = app.pool.get().await?;
    let tx = client.transaction().await?;
    let Some(found) = tx
        .query_opt(
            "SELECT event_id, section_id FROM holds WHERE id = $1",
            &[&hold_id],
        )
        .await?
    else {
        return Ok(Answer::problem(
            StatusCode::NOT_FOUND,
            "hold-not-found",
            "no such hold",
        ));
    };
    let (event_id, section): (String, String) = (found.get(0), found.get(1));
    tx.execute(
        "SELECT 1 FROM sections WHERE event_id = $1 AND id = $2 FOR UPDATE",
        &[&event_id, &section],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT status, expires_at <= now(), quantity FROM holds WHERE id = $1 FOR UPDATE",
            &[&hold_id],
        )
        .await?;
    let (status, expired, quantity): (String, bool, i32) = (row.get(0), row.get(1), row.get(2));
    let outcome = match (status.as_str(), expired, &confirm) {
        ("confirmed", _, Some(_)) | ("released", _, None) => None,
        ("confirmed", _, None) => Some(Answer::problem(
            StatusCode::CONFLICT,
            "hold-confirmed",
            "the hold is confirmed",
        )),
        ("released", _, Some(_)) => Some(Answer::problem(
            StatusCode::CONFLICT,
            "hold-released",
            "the hold was released",
        )),
        ("expired", _, Some(_)) | ("held", true, Some(_)) => {
            reclaim_expired(&tx, &event_id, &section).await?;
            Some(Answer::problem(
                StatusCode::GONE,
                "hold-expired",
                "the hold has expired",
            ))
        }
        ("expired", _, None) | ("held", true, None) => {
            // Releasing an expired hold is a no-op success, its units are free already.
            reclaim_expired(&tx, &event_id, &section).await?;
            None
        }
        (_, _, Some(payment_ref)) => {
            let booking = format!("b-{}", uuid::Uuid::new_v4().simple());
            tx.execute(
                "UPDATE holds SET status = 'confirmed', booking_id = $2, payment_ref = $3, confirmed_at = now()
                 WHERE id = $1",
                &[&hold_id, &booking, payment_ref],
            )
            .await?;
            tx.execute(
                "UPDATE sections SET held = held - $3, sold = sold + $3 WHERE event_id = $1 AND id = $2",
                &[&event_id, &section, &quantity],
            )
            .await?;
            tx.execute(
                "UPDATE seats SET state = 'sold' WHERE hold_id = $1",
                &[&hold_id],
            )
            .await?;
            None
        }
        (_, _, None) => {
            tx.execute(
                "UPDATE holds SET status = 'released' WHERE id = $1",
                &[&hold_id],
            )
            .await?;
            tx.execute(
                "UPDATE sections SET held = held - $3, available = available + $3 WHERE event_id = $1 AND id = $2",
                &[&event_id, &section, &quantity],
            )
            .await?;
            tx.execute(
                "UPDATE seats SET state = 'available', hold_id = NULL WHERE hold_id = $1",
                &[&hold_id],
            )
            .await?;
            None
        }
    };
    if let Some(problem) = outcome {
        tx.commit().await?;
        return Ok(problem);
    }
    let row = tx.query_one(HOLD_SELECT, &[&hold_id]).await?;
    let body = hold_json(&row);
    tx.commit().await?;
    Ok(Answer::ok(StatusCode::OK, body))
}
