//! Spin's outbound Redis (`fermyon:spin/redis@2.0.0`) on the `redis` crate, as Spin 4.0.2's
//! `factor-outbound-redis` does it:
//!
//! - `open` checks the address against the component's `allowed_outbound_hosts` (scheme
//!   `redis`, default port 6379) and answers `invalid-address` for a host not listed or an
//!   address the client cannot parse; a failed connection is `other(message)`.
//! - Every call runs on one multiplexed connection per `open`; errors are `other` with the
//!   client's message (so a `NOSCRIPT` reply reads `... - NoScriptError: No matching script
//!   ...`), except `sadd`'s wrong-type error, which is `type-error`.
//! - `execute` maps the reply as Spin does: nil → `nil`, simple string → `status`, `OK` →
//!   `status("OK")`, integer → `int64`, bulk string → `binary`, double and big number →
//!   their text as `binary`, boolean → `int64` 0/1; arrays and sets are flattened in order
//!   (nested ones too); maps, attributes, verbatim strings and pushes are refused.
//!
//! Not modelled: Spin's connection semaphore (`too-many-connections`), its blocked-networks
//! DNS filter, and its cap on buffered reply bytes.

use std::net::IpAddr;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, FromRedisValue, Value};

/// One open connection, the host side of the `connection` resource.
#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: MultiplexedConnection,
}

/// A reply of `execute`, mapped as Spin maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Nil,
    Status(String),
    Int64(i64),
    Binary(Vec<u8>),
}

/// A parameter of `execute`.
#[derive(Debug, Clone)]
pub enum Param {
    Int64(i64),
    Binary(Vec<u8>),
}

/// An error of the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisError {
    InvalidAddress,
    TypeError,
    Other(String),
}

fn other(error: impl std::fmt::Display) -> RedisError {
    RedisError::Other(error.to_string())
}

/// One entry of `allowed_outbound_hosts`, resolved: `scheme://host[:port]`, each part
/// possibly `*`, the host possibly `*.suffix`, the port possibly a range `a..b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: String,
    host: String,
    ports: Ports,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ports {
    Any,
    /// `start..end`, end exclusive (a single port is `p..p+1`).
    Range(u16, u32),
}

fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "redis" => 6379,
        "rediss" => 6380,
        "postgres" => 5432,
        "mysql" => 3306,
        "mqtt" => 1883,
        "http" => 80,
        "https" => 443,
        _ => return None,
    })
}

impl AllowedHost {
    /// Parses one resolved entry, with Spin's rules: a scheme is required, no path, a port
    /// may be omitted only for a scheme with a well-known port.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        let Some((scheme, rest)) = entry.split_once("://") else {
            return Err(format!(
                "{entry:?} does not contain a scheme (e.g. 'redis://')"
            ));
        };
        // As Spin splits it: the port after the last `:`, then a path after the port (or
        // after the host, when there is no port) is refused; a `/` in the host is a CIDR
        // prefix length (`10.0.0.0/24`), or a trailing slash.
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        let port = match port.map(|port| port.split_once('/').unwrap_or((port, ""))) {
            Some((_, path)) if !path.is_empty() => {
                return Err(format!("{entry:?} has a path but is not allowed to"));
            }
            Some((port, _)) => Some(port),
            None => None,
        };
        let host = if parse_cidr(host).is_some() {
            host
        } else {
            let host = host.trim_end_matches('/');
            if host.contains('/') {
                return Err(format!("{entry:?} has a path but is not allowed to"));
            }
            host
        };
        if scheme.is_empty() || host.is_empty() {
            return Err(format!("{entry:?} is not <scheme>://<host>[:<port>]"));
        }
        let ports = match port {
            Some("*") => Ports::Any,
            Some(port) => match port.split_once("..") {
                Some((start, end)) => Ports::Range(
                    start
                        .parse()
                        .map_err(|_| format!("invalid port in {entry:?}"))?,
                    end.parse()
                        .map_err(|_| format!("invalid port in {entry:?}"))?,
                ),
                None => {
                    let port: u16 = port
                        .parse()
                        .map_err(|_| format!("invalid port in {entry:?}"))?;
                    Ports::Range(port, u32::from(port) + 1)
                }
            },
            None if scheme == "*" => {
                return Err(format!("{entry:?}: a wildcard scheme needs a port"));
            }
            None => match default_port(scheme) {
                Some(port) => Ports::Range(port, u32::from(port) + 1),
                None => return Err(format!("{entry:?}: no default port for scheme {scheme:?}")),
            },
        };
        Ok(Self {
            scheme: scheme.to_owned(),
            host: host.to_ascii_lowercase(),
            ports,
        })
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme == "*" || self.scheme == scheme;
        let host_ok = self.host == "*"
            || self.host == host
            || parse_cidr(&self.host).is_some_and(|(network, bits)| {
                host.trim_matches(['[', ']'])
                    .parse::<IpAddr>()
                    .is_ok_and(|address| in_network(address, network, bits))
            })
            || self
                .host
                .strip_prefix("*.")
                .is_some_and(|suffix| host.ends_with(&format!(".{suffix}")));
        let port_ok = match self.ports {
            Ports::Any => true,
            Ports::Range(start, end) => port >= start && u32::from(port) < end,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// `address/bits` (a CIDR block, IPv4 or IPv6), as Spin accepts for a host.
fn parse_cidr(host: &str) -> Option<(IpAddr, u8)> {
    let (address, bits) = host.split_once('/')?;
    let address: IpAddr = address.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((address, bits))
}

fn in_network(address: IpAddr, network: IpAddr, bits: u8) -> bool {
    let prefix = |value: u128, width: u32| {
        let shift = width - u32::from(bits);
        if shift >= 128 { 0 } else { value >> shift }
    };
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            prefix(u128::from(u32::from(a)), 32) == prefix(u128::from(u32::from(n)), 32)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => prefix(u128::from(a), 128) == prefix(u128::from(n), 128),
        _ => false,
    }
}

/// Whether `address` (a Redis URL) is allowed by `allowed`, checked as Spin checks it: the
/// URL's own scheme (`redis://` is assumed when it has none), host and port (the scheme's
/// well-known port when it gives none).
pub fn is_allowed(allowed: &[AllowedHost], address: &str) -> bool {
    let (scheme, rest) = address.split_once("://").unwrap_or(("redis", address));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, hostport)| hostport);
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // [v6]:port
        match bracketed.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => return false,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(port) => match port.parse::<u16>() {
            Ok(port) => port,
            Err(_) => return false,
        },
        None => match default_port(scheme) {
            Some(port) => port,
            None => return false,
        },
    };
    let host = host.to_ascii_lowercase();
    allowed
        .iter()
        .any(|entry| entry.allows(scheme, &host, port))
}

/// Opens a connection as Spin does (the address check is the caller's).
pub async fn open(address: &str) -> Result<Connection, RedisError> {
    let client = redis::Client::open(address).map_err(|_| RedisError::InvalidAddress)?;
    let inner = client
        .get_multiplexed_async_connection()
        .await
        .map_err(other)?;
    Ok(Connection { inner })
}

impl Connection {
    pub async fn publish(&mut self, channel: &str, payload: &[u8]) -> Result<(), RedisError> {
        let () = self.inner.publish(channel, payload).await.map_err(other)?;
        Ok(())
    }

    pub async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        self.inner.get(key).await.map_err(other)
    }

    pub async fn set(&mut self, key: &str, value: &[u8]) -> Result<(), RedisError> {
        let () = self.inner.set(key, value).await.map_err(other)?;
        Ok(())
    }

    pub async fn incr(&mut self, key: &str) -> Result<i64, RedisError> {
        self.inner.incr(key, 1).await.map_err(other)
    }

    pub async fn del(&mut self, keys: &[String]) -> Result<u32, RedisError> {
        self.inner.del(keys).await.map_err(other)
    }

    pub async fn sadd(&mut self, key: &str, values: &[String]) -> Result<u32, RedisError> {
        self.inner.sadd(key, values).await.map_err(|error| {
            if error.kind() == redis::ErrorKind::TypeError {
                RedisError::TypeError
            } else {
                other(error)
            }
        })
    }

    pub async fn smembers(&mut self, key: &str) -> Result<Vec<String>, RedisError> {
        self.inner.smembers(key).await.map_err(other)
    }

    pub async fn srem(&mut self, key: &str, values: &[String]) -> Result<u32, RedisError> {
        self.inner.srem(key, values).await.map_err(other)
    }

    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Vec<Param>,
    ) -> Result<Vec<Reply>, RedisError> {
        let mut cmd = redis::cmd(command);
        for argument in arguments {
            match argument {
                Param::Int64(value) => cmd.arg(value),
                Param::Binary(value) => cmd.arg(value),
            };
        }
        let Replies(replies) = cmd.query_async(&mut self.inner).await.map_err(other)?;
        Ok(replies)
    }
}

/// A reply flattened as Spin flattens it.
struct Replies(Vec<Reply>);

fn refused(what: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::TypeError,
        "Could not convert Redis response",
        format!("Redis {what} type is not supported"),
    ))
}

fn flatten(out: &mut Vec<Reply>, value: &Value) -> redis::RedisResult<()> {
    match value {
        Value::Nil => out.push(Reply::Nil),
        Value::Int(value) => out.push(Reply::Int64(*value)),
        Value::BulkString(bytes) => out.push(Reply::Binary(bytes.clone())),
        Value::SimpleString(text) => out.push(Reply::Status(text.clone())),
        Value::Okay => out.push(Reply::Status("OK".to_owned())),
        Value::Array(values) | Value::Set(values) => {
            for value in values {
                flatten(out, value)?;
            }
        }
        Value::Double(value) => out.push(Reply::Binary(value.to_string().into_bytes())),
        Value::Boolean(value) => out.push(Reply::Int64(i64::from(*value))),
        Value::BigNumber(value) => out.push(Reply::Binary(value.to_string().into_bytes())),
        Value::Map(_) => return Err(refused("Map")),
        Value::Attribute { .. } => return Err(refused("Attribute")),
        Value::VerbatimString { .. } => return Err(refused("string with format attribute")),
        Value::Push { .. } => return Err(refused("Pub/Sub")),
        Value::ServerError(error) => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::ResponseError,
                "Server error",
                format!("{error:?}"),
            )));
        }
    }
    Ok(())
}

impl FromRedisValue for Replies {
    fn from_redis_value(value: &Value) -> redis::RedisResult<Self> {
        let mut out = Vec::new();
        flatten(&mut out, value)?;
        Ok(Replies(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> Vec<AllowedHost> {
        entries
            .iter()
            .map(|entry| AllowedHost::parse(entry).expect("a valid entry"))
            .collect()
    }

    #[test]
    fn allowed_hosts_match_like_spin() {
        let hosts = allowed(&["redis://127.0.0.1:6379"]);
        assert!(is_allowed(&hosts, "redis://127.0.0.1:6379"));
        assert!(is_allowed(&hosts, "redis://127.0.0.1"));
        assert!(is_allowed(&hosts, "redis://127.0.0.1:6379/0"));
        assert!(is_allowed(&hosts, "redis://user:secret@127.0.0.1:6379"));
        assert!(!is_allowed(&hosts, "redis://127.0.0.1:6380"));
        assert!(!is_allowed(&hosts, "redis://localhost:6379"));
        assert!(!is_allowed(&hosts, "rediss://127.0.0.1:6379"));
        assert!(is_allowed(&hosts, "127.0.0.1:6379"));
        let hosts = allowed(&["redis://*:*"]);
        assert!(is_allowed(&hosts, "redis://example.com:1234"));
        let hosts = allowed(&["*://*.example.com:6000..7000"]);
        assert!(is_allowed(&hosts, "redis://db.example.com:6379"));
        assert!(!is_allowed(&hosts, "redis://db.example.com:7000"));
        assert!(!is_allowed(&hosts, "redis://example.com:6379"));
        assert!(!is_allowed(&[], "redis://127.0.0.1:6379"));
        // A CIDR host and a port range, as redis_host may give for several primaries.
        let hosts = allowed(&["redis://127.0.0.0/8:7100..7103"]);
        assert!(is_allowed(&hosts, "redis://127.0.0.1:7102"));
        assert!(!is_allowed(&hosts, "redis://127.0.0.1:7103"));
        assert!(!is_allowed(&hosts, "redis://10.0.0.1:7100"));
        let hosts = allowed(&["redis://10.1.2.0/24:6379"]);
        assert!(is_allowed(&hosts, "redis://10.1.2.200"));
        assert!(!is_allowed(&hosts, "redis://10.1.3.1:6379"));
    }

    #[test]
    fn allowed_host_entries_are_checked() {
        assert!(AllowedHost::parse("redis://").is_err());
        assert!(AllowedHost::parse("127.0.0.1:6379").is_err());
        assert!(AllowedHost::parse("redis://h:6379/path").is_err());
        assert!(AllowedHost::parse("*://h").is_err());
        assert!(AllowedHost::parse("redis://h:x").is_err());
        assert!(AllowedHost::parse("redis://h/").is_ok());
        assert!(AllowedHost::parse("redis://h/x").is_err());
        assert!(AllowedHost::parse("redis://10.0.0.0/8").is_ok());
    }

    #[test]
    fn replies_flatten_like_spin() {
        let value = Value::Array(vec![
            Value::Int(0),
            Value::Nil,
            Value::BulkString(b"v".to_vec()),
            Value::Array(vec![Value::Okay, Value::SimpleString("PONG".into())]),
            Value::Boolean(true),
        ]);
        let Replies(replies) = Replies::from_redis_value(&value).expect("convertible");
        assert_eq!(
            replies,
            vec![
                Reply::Int64(0),
                Reply::Nil,
                Reply::Binary(b"v".to_vec()),
                Reply::Status("OK".into()),
                Reply::Status("PONG".into()),
                Reply::Int64(1),
            ]
        );
        assert!(Replies::from_redis_value(&Value::Map(Vec::new())).is_err());
    }
}
