//! Test vectors for routing: path → route, route → allowed methods and
//! serving component, and (component, method, path) → status.

use super::{
    ACTION_METHODS, AVAILABILITY_METHODS, Component, EVENT_METHODS, HOLD_METHODS, HOLDS_METHODS,
    Route,
};

#[test]
fn route_parse() {
    use Route::*;
    let s = |id: &str| id.to_owned();
    let hold_id = "h1~gala~0~3~0123456789abcdef0123456789abcdef";
    // (name, path, route)
    let cases: Vec<(&str, String, Route)> = vec![
        ("event", "/events/gala".into(), Event(s("gala"))),
        (
            "availability",
            "/events/gala/availability".into(),
            Availability(s("gala")),
        ),
        ("holds", "/events/gala/holds".into(), Holds(s("gala"))),
        ("hold", "/holds/h1".into(), Hold(s("h1"))),
        ("confirm", "/holds/h1/confirm".into(), Confirm(s("h1"))),
        ("release", "/holds/h1/release".into(), Release(s("h1"))),
        (
            "a real hold id, tildes and all",
            format!("/holds/{hold_id}"),
            Hold(s(hold_id)),
        ),
        (
            "confirm of a real hold id",
            format!("/holds/{hold_id}/confirm"),
            Confirm(s(hold_id)),
        ),
        // Query strings and fragments are not part of the path.
        (
            "query string dropped",
            "/events/gala?x=1".into(),
            Event(s("gala")),
        ),
        (
            "fragment dropped",
            "/events/gala#top".into(),
            Event(s("gala")),
        ),
        (
            "query on a sub-route",
            "/events/gala/availability?fresh=1".into(),
            Availability(s("gala")),
        ),
        (
            "query right after the prefix",
            "/events?x=/y".into(),
            Unknown,
        ),
        // Leading slashes are optional; trailing ones are not accepted.
        ("no leading slash", "events/gala".into(), Event(s("gala"))),
        (
            "doubled leading slash",
            "//events/gala".into(),
            Event(s("gala")),
        ),
        ("trailing slash", "/events/gala/".into(), Unknown),
        (
            "trailing slash on a sub-route",
            "/holds/h1/confirm/".into(),
            Unknown,
        ),
        ("doubled inner slash", "/events//gala".into(), Unknown),
        // Empty ids parse (and are refused later by the id rule).
        ("empty event id", "/events/".into(), Event(s(""))),
        ("empty hold id", "/holds/".into(), Hold(s(""))),
        (
            "empty event id before holds",
            "/events//holds".into(),
            Holds(s("")),
        ),
        // Ids are percent-decoded once, never case-folded; the id rule
        // then judges the decoded id.
        (
            "percent-encoding decoded",
            "/events/a%20b".into(),
            Event(s("a b")),
        ),
        (
            "an encoded dash is a dash",
            "/events/gig%2D2026/holds".into(),
            Holds(s("gig-2026")),
        ),
        (
            "decoded once, not twice",
            "/events/a%2520b".into(),
            Event(s("a%20b")),
        ),
        (
            "an encoded slash stays in its segment",
            "/events/a%2Fb/availability".into(),
            Availability(s("a/b")),
        ),
        (
            "not UTF-8 once decoded: kept as sent",
            "/events/a%FFb".into(),
            Event(s("a%FFb")),
        ),
        ("case kept", "/events/Gala".into(), Event(s("Gala"))),
        ("dots kept", "/events/..".into(), Event(s(".."))),
        // Everything else.
        ("empty path", String::new(), Unknown),
        ("root", "/".into(), Unknown),
        ("collection of events", "/events".into(), Unknown),
        ("collection of holds", "/holds".into(), Unknown),
        ("prefix is case-sensitive", "/Events/gala".into(), Unknown),
        (
            "action is case-sensitive",
            "/holds/h1/Confirm".into(),
            Unknown,
        ),
        ("unknown action", "/holds/h1/cancel".into(), Unknown),
        (
            "event action on a hold",
            "/holds/h1/availability".into(),
            Unknown,
        ),
        (
            "hold action on an event",
            "/events/gala/confirm".into(),
            Unknown,
        ),
        (
            "one segment too many",
            "/events/gala/holds/extra".into(),
            Unknown,
        ),
        ("unknown prefix", "/bookings/b1".into(), Unknown),
    ];
    for (name, path, route) in &cases {
        assert_eq!(&Route::parse(path), route, "case {name:?}: path {path:?}");
    }
}

#[test]
fn route_methods_and_components() {
    let id = || "x".to_owned();
    // (route, allowed methods, serving component)
    let cases: [(Route, &str, Option<Component>); 7] = [
        (
            Route::Event(id()),
            EVENT_METHODS,
            Some(Component::Inventory),
        ),
        (
            Route::Availability(id()),
            AVAILABILITY_METHODS,
            Some(Component::Availability),
        ),
        (Route::Holds(id()), HOLDS_METHODS, Some(Component::Hold)),
        (Route::Hold(id()), HOLD_METHODS, Some(Component::Release)),
        (
            Route::Confirm(id()),
            ACTION_METHODS,
            Some(Component::Confirm),
        ),
        (
            Route::Release(id()),
            ACTION_METHODS,
            Some(Component::Release),
        ),
        (Route::Unknown, "OPTIONS", None),
    ];
    for (route, methods, component) in &cases {
        assert_eq!(route.allowed_methods(), *methods, "case {route:?}: methods");
        assert_eq!(route.served_by(), *component, "case {route:?}: component");
        let listed: Vec<&str> = methods.split(", ").collect();
        assert_eq!(
            listed.last(),
            Some(&"OPTIONS"),
            "case {route:?}: OPTIONS last"
        );
    }
    assert_eq!(
        (
            EVENT_METHODS,
            AVAILABILITY_METHODS,
            HOLDS_METHODS,
            HOLD_METHODS,
            ACTION_METHODS
        ),
        (
            "GET, HEAD, PUT, OPTIONS",
            "GET, HEAD, OPTIONS",
            "POST, OPTIONS",
            "GET, HEAD, DELETE, OPTIONS",
            "POST, OPTIONS"
        ),
    );
}

/// The whole dispatch on an empty store: which (component, method, path)
/// reach an operation, and which are refused before.
#[cfg(feature = "testing")]
#[test]
fn dispatch_methods() {
    use super::handle;
    use crate::context::{Config, Ctx, Tuning};
    use crate::http::Request;
    use crate::limits::{ADMIN_REQUEST_BODY_BYTES_MAX, REQUEST_BODY_BYTES_MAX};
    use crate::memory::{ManualEnv, MemoryStore};
    use Component::{Availability, Confirm, Hold, Inventory, Release};

    let hold = "h1~gala~0~0~0123456789abcdef0123456789abcdef";
    let at = |route: &str| route.replace("{hold}", hold);
    const NONE: Option<&str> = None;
    /// Name, component, method, path, body bytes, status, Allow header of a 405.
    type Case = (
        &'static str,
        Component,
        &'static str,
        String,
        usize,
        u16,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        // Allowed methods reach their operation (here: nothing stored, 404).
        (
            "GET event",
            Inventory,
            "GET",
            at("/events/gala"),
            0,
            404,
            NONE,
        ),
        (
            "PUT event without a token",
            Inventory,
            "PUT",
            at("/events/gala"),
            0,
            401,
            NONE,
        ),
        (
            "GET availability",
            Availability,
            "GET",
            at("/events/gala/availability"),
            0,
            404,
            NONE,
        ),
        (
            "POST holds",
            Hold,
            "POST",
            at("/events/gala/holds"),
            0,
            404,
            NONE,
        ),
        (
            "GET hold",
            Release,
            "GET",
            at("/holds/{hold}"),
            0,
            404,
            NONE,
        ),
        (
            "DELETE hold",
            Release,
            "DELETE",
            at("/holds/{hold}"),
            0,
            404,
            NONE,
        ),
        (
            "POST release",
            Release,
            "POST",
            at("/holds/{hold}/release"),
            0,
            404,
            NONE,
        ),
        (
            "POST confirm without the confirm token",
            Confirm,
            "POST",
            at("/holds/{hold}/confirm"),
            0,
            401,
            NONE,
        ),
        // Other methods: 405 with the Allow list.
        (
            "DELETE event",
            Inventory,
            "DELETE",
            at("/events/gala"),
            0,
            405,
            Some(EVENT_METHODS),
        ),
        (
            "POST event",
            Inventory,
            "POST",
            at("/events/gala"),
            0,
            405,
            Some(EVENT_METHODS),
        ),
        (
            "PUT availability",
            Availability,
            "PUT",
            at("/events/gala/availability"),
            0,
            405,
            Some(AVAILABILITY_METHODS),
        ),
        (
            "GET holds",
            Hold,
            "GET",
            at("/events/gala/holds"),
            0,
            405,
            Some(HOLDS_METHODS),
        ),
        (
            "PUT hold",
            Release,
            "PUT",
            at("/holds/{hold}"),
            0,
            405,
            Some(HOLD_METHODS),
        ),
        (
            "POST hold",
            Release,
            "POST",
            at("/holds/{hold}"),
            0,
            405,
            Some(HOLD_METHODS),
        ),
        (
            "GET release",
            Release,
            "GET",
            at("/holds/{hold}/release"),
            0,
            405,
            Some(ACTION_METHODS),
        ),
        (
            "DELETE confirm",
            Confirm,
            "DELETE",
            at("/holds/{hold}/confirm"),
            0,
            405,
            Some(ACTION_METHODS),
        ),
        // HEAD is GET without a body: here, GET's 404 (nothing stored).
        (
            "HEAD event",
            Inventory,
            "HEAD",
            at("/events/gala"),
            0,
            404,
            NONE,
        ),
        (
            "HEAD on holds (no GET there)",
            Hold,
            "HEAD",
            at("/events/gala/holds"),
            0,
            405,
            Some(HOLDS_METHODS),
        ),
        (
            "methods are case-sensitive",
            Inventory,
            "get",
            at("/events/gala"),
            0,
            405,
            Some(EVENT_METHODS),
        ),
        (
            "empty method",
            Hold,
            "",
            at("/events/gala/holds"),
            0,
            405,
            Some(HOLDS_METHODS),
        ),
        // OPTIONS answers 204 on a served route, whatever the body.
        (
            "OPTIONS event",
            Inventory,
            "OPTIONS",
            at("/events/gala"),
            0,
            204,
            NONE,
        ),
        (
            "OPTIONS hold",
            Release,
            "OPTIONS",
            at("/holds/{hold}"),
            0,
            204,
            NONE,
        ),
        (
            "OPTIONS with an oversized body",
            Hold,
            "OPTIONS",
            at("/events/gala/holds"),
            REQUEST_BODY_BYTES_MAX + 1,
            204,
            NONE,
        ),
        // A route another component serves does not exist here.
        (
            "availability asked of inventory",
            Inventory,
            "GET",
            at("/events/gala/availability"),
            0,
            404,
            NONE,
        ),
        (
            "OPTIONS of another component's route",
            Hold,
            "OPTIONS",
            at("/events/gala"),
            0,
            404,
            NONE,
        ),
        (
            "confirm asked of release",
            Release,
            "POST",
            at("/holds/{hold}/confirm"),
            0,
            404,
            NONE,
        ),
        (
            "release asked of confirm",
            Confirm,
            "POST",
            at("/holds/{hold}/release"),
            0,
            404,
            NONE,
        ),
        (
            "unknown route",
            Inventory,
            "GET",
            at("/nowhere"),
            0,
            404,
            NONE,
        ),
        (
            "OPTIONS of an unknown route",
            Inventory,
            "OPTIONS",
            at("/nowhere"),
            0,
            404,
            NONE,
        ),
        // Body size: REQUEST_BODY_BYTES_MAX passes, one more is 413, before the method.
        (
            "body of max size",
            Hold,
            "POST",
            at("/events/gala/holds"),
            REQUEST_BODY_BYTES_MAX,
            404,
            NONE,
        ),
        (
            "body of max+1",
            Hold,
            "POST",
            at("/events/gala/holds"),
            REQUEST_BODY_BYTES_MAX + 1,
            413,
            NONE,
        ),
        (
            "body of max+1 on a GET",
            Availability,
            "GET",
            at("/events/gala/availability"),
            REQUEST_BODY_BYTES_MAX + 1,
            413,
            NONE,
        ),
        // The admin route takes definitions up to its own, larger limit (no
        // token here: 401 means it passed the size check, which comes first).
        (
            "admin body over the buyer limit",
            Inventory,
            "PUT",
            at("/events/gala"),
            REQUEST_BODY_BYTES_MAX + 1,
            401,
            NONE,
        ),
        (
            "admin body of max size",
            Inventory,
            "PUT",
            at("/events/gala"),
            ADMIN_REQUEST_BODY_BYTES_MAX,
            401,
            NONE,
        ),
        (
            "admin body of max+1",
            Inventory,
            "PUT",
            at("/events/gala"),
            ADMIN_REQUEST_BODY_BYTES_MAX + 1,
            413,
            NONE,
        ),
        (
            "body of max+1 on a wrong method",
            Release,
            "PUT",
            at("/holds/{hold}"),
            REQUEST_BODY_BYTES_MAX + 1,
            413,
            NONE,
        ),
        // Ids that break the id rule name nothing.
        (
            "invalid event id",
            Inventory,
            "GET",
            at("/events/-gala"),
            0,
            404,
            NONE,
        ),
        (
            "empty event id",
            Inventory,
            "GET",
            at("/events/"),
            0,
            404,
            NONE,
        ),
        // Creating one is a client error that states the rule.
        (
            "PUT with an invalid event id",
            Inventory,
            "PUT",
            at("/events/-gala"),
            0,
            400,
            NONE,
        ),
        (
            "invalid event id beats a wrong method on /events",
            Inventory,
            "DELETE",
            at("/events/-gala"),
            0,
            404,
            NONE,
        ),
        (
            "a wrong method beats an invalid id on availability",
            Availability,
            "POST",
            at("/events/-gala/availability"),
            0,
            405,
            Some(AVAILABILITY_METHODS),
        ),
        (
            "forged hold id",
            Release,
            "GET",
            at("/holds/not-a-hold"),
            0,
            404,
            NONE,
        ),
    ];
    // With an `Authorization` header: the admin token is "secret", the
    // confirm token "pay". Name, component, method, path, header, status.
    type TokenCase = (
        &'static str,
        Component,
        &'static str,
        String,
        &'static str,
        u16,
    );
    let with_tokens: Vec<TokenCase> = vec![
        (
            "PUT event, admin token, empty body",
            Inventory,
            "PUT",
            at("/events/gala"),
            "Bearer secret",
            400,
        ),
        (
            "PUT event, confirm token",
            Inventory,
            "PUT",
            at("/events/gala"),
            "Bearer pay",
            401,
        ),
        (
            // The scheme is case-insensitive: authorised, then the empty
            // body is the problem.
            "PUT event, scheme in lower case",
            Inventory,
            "PUT",
            at("/events/gala"),
            "bearer secret",
            400,
        ),
        (
            "PUT event, another scheme",
            Inventory,
            "PUT",
            at("/events/gala"),
            "Basic secret",
            401,
        ),
        (
            "PUT event, token without a scheme",
            Inventory,
            "PUT",
            at("/events/gala"),
            "secret",
            401,
        ),
        (
            "PUT event, token with a trailing space",
            Inventory,
            "PUT",
            at("/events/gala"),
            "Bearer secret ",
            401,
        ),
        (
            "GET event needs no token",
            Inventory,
            "GET",
            at("/events/gala"),
            "Bearer wrong",
            404,
        ),
        (
            "POST confirm, confirm token",
            Confirm,
            "POST",
            at("/holds/{hold}/confirm"),
            "Bearer pay",
            404,
        ),
        (
            "POST confirm, admin token",
            Confirm,
            "POST",
            at("/holds/{hold}/confirm"),
            "Bearer secret",
            401,
        ),
        (
            "POST confirm, forged hold id",
            Confirm,
            "POST",
            at("/holds/x/confirm"),
            "Bearer pay",
            404,
        ),
        (
            "GET confirm, confirm token",
            Confirm,
            "GET",
            at("/holds/{hold}/confirm"),
            "Bearer pay",
            405,
        ),
        (
            "DELETE hold needs no token",
            Release,
            "DELETE",
            at("/holds/{hold}"),
            "Bearer wrong",
            404,
        ),
    ];
    let cases = cases
        .into_iter()
        .map(|(name, component, method, path, body_len, status, allow)| {
            (name, component, method, path, body_len, None, status, allow)
        })
        .chain(with_tokens.into_iter().map(
            |(name, component, method, path, authorization, status)| {
                let allow = (status == 405).then(|| Route::parse(&path).allowed_methods());
                (
                    name,
                    component,
                    method,
                    path,
                    0,
                    Some(authorization),
                    status,
                    allow,
                )
            },
        ));
    let config = Config {
        admin_token: Some("secret".into()),
        confirm_token: Some("pay".into()),
        organiser_token: None,
        buyer_tokens: crate::BuyerTokens::Off,
        hold_ttl_seconds_default: 300,
        tuning: Tuning::default(),
    };
    for (name, component, method, path, body_len, authorization, status, allow) in cases {
        let store = MemoryStore::new();
        let env = ManualEnv::new(1_000_000, 7);
        let ctx = Ctx::new(&store, &env, &config);
        let request = Request {
            method: method.to_owned(),
            path: path.clone(),
            headers: authorization
                .map(|value| ("authorization".to_owned(), value.to_owned()))
                .into_iter()
                .collect(),
            body: vec![b' '; body_len],
        };
        let reply = handle(component, &request, &ctx);
        let header = |name: &str| {
            reply
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(reply.status, status, "case {name:?}: status");
        assert_eq!(header("allow"), allow, "case {name:?}: Allow");
        let preflight = (reply.status == 204).then(|| Route::parse(&path).allowed_methods());
        assert_eq!(
            header("access-control-allow-methods"),
            preflight,
            "case {name:?}: preflight methods"
        );
        assert!(
            store.keys().is_empty(),
            "case {name:?}: wrote {:?}",
            store.keys()
        );
    }
}
