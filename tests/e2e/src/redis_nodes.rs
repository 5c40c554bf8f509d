//! Redis servers on loopback for the tests that need more than the one
//! `booking_host_spawn::RedisServer`: several primaries, a replica, a server
//! killed with SIGKILL and restarted from its append-only file on the same
//! port and directory. Every server runs with `appendonly yes` and
//! `appendfsync always`, in a fresh temporary directory, and is killed (and
//! its directory removed) when its [`RedisNode`] is dropped.
//!
//! Also a small RESP client ([`RedisNode::command`]) to look at what the app
//! wrote and to slow or stop a server.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use booking_host_spawn::{LocalRuntime, REDIS_DURABLE_ARGS, RuntimeOptions, redis_server_bin};
use serde_json::{Value, json};

/// How long a server may take to answer `PING` after it was started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Read timeout of [`RedisNode::command`].
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A reply, as RESP2 gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Nil,
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Resp>),
}

impl Resp {
    /// The elements of an array reply as strings (bulk strings only).
    pub fn strings(&self) -> Vec<String> {
        match self {
            Resp::Array(items) => items
                .iter()
                .filter_map(|item| match item {
                    Resp::Bulk(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn read_reply(reader: &mut impl BufRead) -> Result<Resp, String> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|error| format!("reading a reply: {error}"))?;
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at_checked(1).ok_or("an empty reply")?;
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| format!("bad reply line {line:?}"))
    };
    Ok(match kind {
        "+" => Resp::Status(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(number()?),
        "$" => {
            let length = number()?;
            if length < 0 {
                return Ok(Resp::Nil);
            }
            let mut bytes = vec![0u8; usize::try_from(length).unwrap_or(0) + 2];
            reader
                .read_exact(&mut bytes)
                .map_err(|error| format!("reading a bulk string: {error}"))?;
            bytes.truncate(bytes.len() - 2);
            Resp::Bulk(bytes)
        }
        "*" => {
            let count = number()?;
            if count < 0 {
                return Ok(Resp::Nil);
            }
            let mut items = Vec::new();
            for _ in 0..count {
                items.push(read_reply(reader)?);
            }
            Resp::Array(items)
        }
        _ => return Err(format!("unexpected reply line {line:?}")),
    })
}

/// A `redis-server` on 127.0.0.1, killed and its directory removed on drop.
pub struct RedisNode {
    bin: PathBuf,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

impl std::fmt::Debug for RedisNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisNode")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish()
    }
}

impl RedisNode {
    /// Starts a server with `extra` arguments (e.g. `["--replicaof", "127.0.0.1",
    /// "6379"]`), or returns `None` where `redis-server` is not installed.
    pub fn start(extra: &[&str]) -> Result<Option<Self>, String> {
        let Some(bin) = redis_server_bin() else {
            return Ok(None);
        };
        let mut last = String::new();
        // A free port is found by binding port 0 and releasing it: another process may
        // take it in between, so try a few times.
        for attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .map_err(|error| format!("no free port: {error}"))?
                .port();
            let dir = std::env::temp_dir().join(format!(
                "booking-redis-node-{}-{port}-{attempt}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir)
                .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
            let mut node = Self {
                bin: bin.clone(),
                port,
                dir,
                extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
                child: None,
            };
            match node.spawn() {
                Ok(()) => return Ok(Some(node)),
                Err(error) => last = error,
            }
        }
        Err(format!("could not start {}: {last}", bin.display()))
    }

    /// Starts (or starts again) the server on this node's port and directory: a restart
    /// loads the append-only file the last run left.
    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new(&self.bin)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .args(REDIS_DURABLE_ARGS)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", self.bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("redis-server exited at start ({status})"));
            }
            if self.command(&["PING"]) == Ok(Resp::Status("PONG".into())) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "redis-server did not answer PING on port {}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL (no shutdown, no final fsync) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again after [`RedisNode::kill`], from its append-only file.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one command on a fresh connection and reads its reply.
    pub fn command(&self, args: &[&str]) -> Result<Resp, String> {
        let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
        self.command_bytes(&args)
    }

    /// [`RedisNode::command`] with binary arguments.
    pub fn command_bytes(&self, args: &[&[u8]]) -> Result<Resp, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|error| format!("connecting to {}: {error}", self.port))?;
        let _ = stream.set_read_timeout(Some(COMMAND_TIMEOUT));
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        stream
            .write_all(&request)
            .map_err(|error| format!("writing a command: {error}"))?;
        read_reply(&mut BufReader::new(stream))
    }

    /// The keys matching `pattern` (`KEYS`; fine for a test's few keys).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.command(&["KEYS", pattern])
            .unwrap_or_else(|error| panic!("KEYS on {}: {error}", self.port))
            .strings()
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `count` servers started with `extra` arguments for the test named `test`, or `None`
/// (with one line saying so) unless `BOOKING_E2E_STORE=redis`: these tests start their
/// own servers and run in `scripts/test`'s Redis leg only, once. Asked for where
/// `redis-server` is not installed, they fail saying so, as the rest of that leg does.
pub fn nodes(test: &str, count: usize, extra: &[&str]) -> Option<Vec<RedisNode>> {
    match crate::redis_store_requested() {
        Ok(true) => {}
        Ok(false) => {
            println!(
                "{test}: skipped: runs with BOOKING_E2E_STORE=redis (scripts/test's Redis leg)"
            );
            return None;
        }
        Err(error) => panic!("{error}"),
    }
    let started = (0..count)
        .map(|_| match RedisNode::start(extra) {
            Ok(Some(node)) => node,
            Ok(None) => panic!(
                "{test}: BOOKING_E2E_STORE=redis but redis-server is not installed \
                 (apt-get install redis-server, or set BOOKING_REDIS_SERVER)"
            ),
            Err(error) => panic!("{test}: {error}"),
        })
        .collect();
    Some(started)
}

/// FNV-1a 64 (the algorithm of the core's stable hash), written out here so the tests
/// check the app's routing against an independent copy.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The index, among `count` primaries, of the one that should hold `event`.
pub fn primary_of(event: &str, count: usize) -> usize {
    usize::try_from(fnv1a64(event.as_bytes()) % count as u64).unwrap_or(usize::MAX)
}

/// The app on the given Redis primaries, with helpers for the requests the Redis tests
/// make: in the local runtime, or in real `spin up` when `BOOKING_E2E_SPIN_BIN` names a
/// Spin CLI. `redis_host` is `127.0.0.1:*` (every port on loopback: the servers' ports
/// are picked at random), which the single `redis://{{ redis_host }}` entry of
/// `allowed_outbound_hosts` turns into `redis://127.0.0.1:*`.
pub struct App {
    server: Server,
    api: Api,
}

/// The requests, apart from the server (cheap to clone, `Send` and `Sync`: buyers on
/// several tasks share one).
#[derive(Clone)]
pub struct Api {
    base_url: String,
    pub client: reqwest::Client,
}

impl std::ops::Deref for App {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

enum Server {
    Local(LocalRuntime),
    Spin(SpinUp),
}

/// The admin token of [`App`].
pub const ADMIN: &str = "redis-nodes-admin";
/// The confirm token of [`App`].
pub const CONFIRM: &str = "redis-nodes-confirm";

impl App {
    /// Starts the app with `redis_address` listing `nodes` (in that order) and any
    /// further `variables`.
    pub fn start(nodes: &[&RedisNode], variables: &[(&str, &str)]) -> Self {
        let addresses: Vec<String> = nodes.iter().map(|node| node.address()).collect();
        let mut all = vec![
            ("admin_token".to_owned(), ADMIN.to_owned()),
            ("confirm_token".to_owned(), CONFIRM.to_owned()),
            ("redis_address".to_owned(), addresses.join(",")),
            ("redis_host".to_owned(), "127.0.0.1:*".to_owned()),
        ];
        all.extend(
            variables
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        let server = match std::env::var_os("BOOKING_E2E_SPIN_BIN").filter(|bin| !bin.is_empty()) {
            Some(bin) => Server::Spin(
                SpinUp::start(Path::new(&bin), &all).unwrap_or_else(|error| panic!("{error}")),
            ),
            None => {
                let mut options = RuntimeOptions::for_workspace();
                for (name, value) in &all {
                    options = options.variable(name, value.as_str());
                }
                Server::Local(
                    LocalRuntime::start(&options).unwrap_or_else(|error| panic!("{error}")),
                )
            }
        };
        let base_url = match &server {
            Server::Local(runtime) => runtime.base_url().to_owned(),
            Server::Spin(spin) => spin.base_url.clone(),
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a client");
        Self {
            server,
            api: Api { base_url, client },
        }
    }

    /// Whether this is real Spin rather than the local runtime.
    pub fn is_spin(&self) -> bool {
        matches!(self.server, Server::Spin(_))
    }

    /// The requests, to share with other tasks.
    pub fn api(&self) -> Api {
        self.api.clone()
    }
}

impl Api {
    /// The app's base URL (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `PUT /events/:id` with one general section `floor` of `capacity`: the status.
    pub async fn create_event(&self, id: &str, capacity: u32) -> u16 {
        self.client
            .put(self.url(&format!("/events/{id}")))
            .bearer_auth(ADMIN)
            .json(&json!({
                "name": "On Redis",
                "hold_ttl_seconds": 300,
                "sections": [{ "id": "floor", "capacity": capacity }],
            }))
            .send()
            .await
            .expect("answered")
            .status()
            .as_u16()
    }

    /// `POST /events/:id/holds` for `quantity` floor tickets: status, headers and body.
    pub async fn hold(&self, id: &str, quantity: u32, customer: &str) -> Answer {
        let request = self
            .client
            .post(self.url(&format!("/events/{id}/holds")))
            .json(&json!({ "section": "floor", "quantity": quantity, "customer_id": customer }));
        Answer::of(request).await
    }

    /// [`App::hold`] with an `Idempotency-Key`: a retry after a 503 gets the hold the
    /// first attempt may have placed.
    pub async fn hold_keyed(&self, id: &str, quantity: u32, customer: &str, key: &str) -> Answer {
        let request = self
            .client
            .post(self.url(&format!("/events/{id}/holds")))
            .header("idempotency-key", key)
            .json(&json!({ "section": "floor", "quantity": quantity, "customer_id": customer }));
        Answer::of(request).await
    }

    /// `POST /holds/:hold_id/confirm` with the confirm token.
    pub async fn confirm(&self, hold_id: &str, payment_ref: &str) -> Answer {
        let request = self
            .client
            .post(self.url(&format!("/holds/{hold_id}/confirm")))
            .bearer_auth(CONFIRM)
            .json(&json!({ "payment_ref": payment_ref }));
        Answer::of(request).await
    }

    /// `GET /holds/:hold_id`.
    pub async fn get_hold(&self, hold_id: &str) -> Answer {
        Answer::of(self.client.get(self.url(&format!("/holds/{hold_id}")))).await
    }

    /// `GET /events/:id/availability`: the floor section's counts (held, sold, available).
    pub async fn floor(&self, id: &str) -> (u64, u64, u64) {
        let answer = Answer::of(
            self.client
                .get(self.url(&format!("/events/{id}/availability"))),
        )
        .await;
        assert_eq!(answer.status, 200, "availability of {id}: {answer:?}");
        let floor = &answer.body["sections"][0];
        let count = |name: &str| {
            floor[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name} in {floor}"))
        };
        (count("held"), count("sold"), count("available"))
    }
}

/// Real `spin up` on the workspace's spin.toml (the .wasm files it names under target/),
/// in a fresh state directory, on a free port; stopped (SIGTERM, which it passes on to
/// its trigger process, then SIGKILL) and its directory removed on drop.
struct SpinUp {
    child: Child,
    dir: PathBuf,
    base_url: String,
}

/// How long `spin up` may take to serve: it compiles the components first.
const SPIN_STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

impl SpinUp {
    fn start(bin: &Path, variables: &[(String, String)]) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "booking-spin-redis-{}-{}",
            std::process::id(),
            crate::random_hex()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let file = |name: &str| {
            std::fs::File::create(dir.join(name))
                .map_err(|error| format!("cannot create {name}: {error}"))
        };
        let mut command = Command::new(bin);
        command
            .arg("up")
            .arg("--from")
            .arg(booking_host_spawn::workspace_dir().join("spin.toml"))
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(dir.join("state"))
            .stdin(Stdio::null())
            .stdout(file("stdout")?)
            .stderr(file("stderr")?);
        for (name, value) in variables {
            command.env(
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        let child = command
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", bin.display()))?;
        let mut spin = Self {
            child,
            dir,
            base_url: String::new(),
        };
        let deadline = Instant::now() + SPIN_STARTUP_TIMEOUT;
        loop {
            let stdout = std::fs::read_to_string(spin.dir.join("stdout")).unwrap_or_default();
            if let Some(url) = stdout
                .lines()
                .find_map(|line| line.strip_prefix("Serving "))
                .and_then(|rest| rest.split_whitespace().next())
            {
                spin.base_url = url.trim_end_matches('/').to_owned();
                return Ok(spin);
            }
            if let Ok(Some(status)) = spin.child.try_wait() {
                let stderr = std::fs::read_to_string(spin.dir.join("stderr")).unwrap_or_default();
                return Err(format!("spin up exited ({status}): {stdout}{stderr}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "spin up did not serve within {SPIN_STARTUP_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SpinUp {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An answer read whole, with how long it took.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
    pub elapsed: Duration,
}

impl Answer {
    /// Sends `request` and reads the answer, which must be one the contract
    /// (`openapi.yaml`) documents, as every answer of [`crate::Ctx::send`].
    async fn of(request: reqwest::RequestBuilder) -> Self {
        let (client, request) = request.build_split();
        let request = request.expect("build request");
        let method = request.method().as_str().to_owned();
        let path = request.url().path().to_owned();
        let started = Instant::now();
        let reply = client.execute(request).await.expect("answered");
        let status = reply.status().as_u16();
        let headers = reply.headers().clone();
        let header = |name: &str| {
            reply
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after");
        let content_type = header("content-type");
        let bytes = reply.bytes().await.expect("a body");
        let exchange = crate::contract::Exchange {
            method: &method,
            path: &path,
            status,
            headers: &headers,
            body: &bytes,
        };
        if let Err(violation) = crate::contract::workspace().check(&exchange) {
            panic!("the answer breaks the contract (openapi.yaml): {violation}");
        }
        Self {
            status,
            retry_after,
            content_type,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            elapsed: started.elapsed(),
        }
    }

    /// The `hold_id` of a 201.
    pub fn hold_id(&self) -> String {
        self.body["hold_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no hold_id in {self:?}"))
            .to_owned()
    }

    /// Whether this is the store-unavailable answer: 503, `Retry-After`, a problem
    /// document.
    pub fn is_unavailable(&self) -> bool {
        self.status == 503
            && self.retry_after.is_some()
            && self.content_type.as_deref() == Some("application/problem+json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn replies_parse() {
        let mut input: &[u8] = b"*3\r\n$1\r\na\r\n$-1\r\n:7\r\n";
        assert_eq!(
            read_reply(&mut input),
            Ok(Resp::Array(vec![
                Resp::Bulk(b"a".to_vec()),
                Resp::Nil,
                Resp::Int(7)
            ]))
        );
        let mut input: &[u8] = b"-ERR no\r\n";
        assert_eq!(read_reply(&mut input), Ok(Resp::Error("ERR no".into())));
    }
}
