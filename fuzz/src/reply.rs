//! What every reply must be, whatever the request or the store held: a
//! known status; an error is an `application/problem+json` document whose
//! `type` is one of ours and whose `status` is the reply's; a success is
//! JSON (or empty where HTTP says so).

use booking_core::{PROBLEM_TYPE_PREFIX, Reply, Request};
use serde_json::Value;

/// Panics with the request and reply when the reply is not well formed.
pub fn check_reply(request: &Request, reply: &Reply) {
    if let Err(broken) = well_formed(request, reply) {
        panic!(
            "malformed reply: {broken}\nrequest: {} {:?} headers {:?} body {:?}\nreply: {} {} {:?} {:?}",
            request.method,
            request.path,
            request.headers,
            String::from_utf8_lossy(&request.body),
            reply.status,
            reply.content_type,
            reply.headers,
            String::from_utf8_lossy(&reply.body),
        );
    }
}

fn well_formed(request: &Request, reply: &Reply) -> Result<(), String> {
    const KNOWN: [u16; 16] = [
        200, 201, 204, 400, 401, 404, 405, 409, 410, 413, 422, 500, 503, 406, 415, 429,
    ];
    if !KNOWN.contains(&reply.status) {
        return Err(format!(
            "status {} is not one the API answers",
            reply.status
        ));
    }
    if !reply
        .headers
        .iter()
        .any(|(name, _)| name == "x-cas-retries")
    {
        return Err("no x-cas-retries header".into());
    }
    let head = request.method == "HEAD";
    if reply.status >= 400 {
        if reply.content_type != "application/problem+json" {
            return Err(format!("an error as {}", reply.content_type));
        }
        if head {
            return empty(reply);
        }
        return problem(reply);
    }
    if reply.status == 204 || head {
        return empty(reply);
    }
    if reply.content_type != "application/json" {
        return Err(format!("a success as {}", reply.content_type));
    }
    serde_json::from_slice::<Value>(&reply.body)
        .map(|_| ())
        .map_err(|e| format!("a success body that is not JSON: {e}"))
}

fn empty(reply: &Reply) -> Result<(), String> {
    if reply.body.is_empty() {
        Ok(())
    } else {
        Err("a body where none belongs (204 or HEAD)".into())
    }
}

fn problem(reply: &Reply) -> Result<(), String> {
    let body: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("a problem body that is not JSON: {e}"))?;
    let kind = body["type"].as_str().unwrap_or_default();
    let slug = kind.strip_prefix(PROBLEM_TYPE_PREFIX).unwrap_or_default();
    if slug.is_empty() || !slug.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        return Err(format!("problem type {kind:?} is not one of ours"));
    }
    if body["status"].as_u64() != Some(u64::from(reply.status)) {
        return Err(format!("problem status {} differs", body["status"]));
    }
    if body["title"].as_str().is_none_or(str::is_empty) {
        return Err("a problem without a title".into());
    }
    if reply.status == 405 && !reply.headers.iter().any(|(name, _)| name == "allow") {
        return Err("405 without Allow".into());
    }
    if reply.status == 401 && !reply.headers.iter().any(|(n, _)| n == "www-authenticate") {
        return Err("401 without WWW-Authenticate".into());
    }
    let retry = reply.headers.iter().any(|(name, _)| name == "retry-after");
    if reply.status == 503 && !retry && slug != "admin-disabled" && slug != "confirm-disabled" {
        return Err("503 without Retry-After".into());
    }
    Ok(())
}
