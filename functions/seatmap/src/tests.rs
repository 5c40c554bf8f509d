//! Table tests of the routes, caching and errors (native: `cargo test -p seatmap`).

use super::*;

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.header(name)
}

fn body_text(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}

fn problem_type(answer: &Answer) -> String {
    let body: serde_json::Value =
        serde_json::from_slice(&answer.body).expect("a problem body is JSON");
    body["type"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn page_routes_serve_the_pages_with_the_version_filled_in() {
    let cases = [
        ("/app", BUYER_PAGE),
        ("/app/", BUYER_PAGE),
        ("/app?event=gig-2026", BUYER_PAGE),
        ("/app/?event=gig-2026", BUYER_PAGE),
        ("/app/events/gig-2026", BUYER_PAGE),
        ("/app/events/gig-2026/", BUYER_PAGE),
        ("/app/organiser", ORGANISER_PAGE),
        ("/app/organiser/?event=gig-2026", ORGANISER_PAGE),
        ("/app/events/gig-2026/organiser", ORGANISER_PAGE),
    ];
    for (path, page) in cases {
        let answer = answer("GET", path, None);
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(
            header(&answer, "content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(header(&answer, "cache-control"), Some("no-cache"), "{path}");
        assert!(
            header(&answer, "content-security-policy").is_some(),
            "{path}"
        );
        let text = body_text(&answer);
        assert!(!text.contains("__"), "{path}: a placeholder left in {page}");
        assert!(text.contains(&format!("?v={}", version_text())), "{path}");
        let marker = if page == BUYER_PAGE {
            "seatmap.js"
        } else {
            "organiser.js"
        };
        assert!(text.contains(marker), "{path} serves {page}");
    }
}

#[test]
fn unknown_paths_are_problem_404s() {
    let cases = [
        "/app/nope",
        "/app/assets/nope.js",
        "/app/assets/",
        "/app/assets/index.html",
        "/app/assets/../index.html",
        "/app/events",
        "/app/events//organiser",
        "/app/events/x/y",
        "/application",
        "/",
    ];
    for path in cases {
        let answer = answer("GET", path, None);
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(
            header(&answer, "content-type"),
            Some("application/problem+json"),
            "{path}"
        );
        assert_eq!(
            problem_type(&answer),
            format!("{PROBLEM_TYPE_PREFIX}not-found")
        );
    }
    let long = format!("/app/assets/{}", "a".repeat(PATH_BYTES_MAX));
    assert_eq!(answer("GET", &long, None).status, 404);
}

#[test]
fn every_asset_is_served_with_its_type() {
    let types = [
        ("api.js", "text/javascript; charset=utf-8"),
        ("layout.js", "text/javascript; charset=utf-8"),
        ("seatmap.js", "text/javascript; charset=utf-8"),
        ("charts.js", "text/javascript; charset=utf-8"),
        ("organiser.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ];
    for (name, content_type) in types {
        let answer = answer("GET", &format!("/app/assets/{name}"), None);
        assert_eq!(answer.status, 200, "{name}");
        assert_eq!(
            header(&answer, "content-type"),
            Some(content_type),
            "{name}"
        );
        assert_eq!(header(&answer, "x-content-type-options"), Some("nosniff"));
        assert!(!answer.body.is_empty(), "{name}");
    }
    // Every file in static/ is either a page or listed above.
    assert_eq!(ASSETS.len(), types.len() + 2);
}

#[test]
fn every_asset_a_page_names_exists() {
    for page in [BUYER_PAGE, ORGANISER_PAGE] {
        let served = body_text(&answer(
            "GET",
            if page == BUYER_PAGE {
                "/app"
            } else {
                "/app/organiser"
            },
            None,
        ));
        let mut named = 0;
        for piece in served.split("/app/assets/").skip(1) {
            let url = piece.split('"').next().unwrap_or_default();
            let answer = answer("GET", &format!("/app/assets/{url}"), None);
            assert_eq!(answer.status, 200, "{page} names {url}");
            named += 1;
        }
        assert!(named >= 4, "{page} names its scripts and styles");
    }
}

#[test]
fn versioned_asset_urls_are_immutable_and_others_revalidate() {
    let current = answer(
        "GET",
        &format!("/app/assets/api.js?v={}", version_text()),
        None,
    );
    assert_eq!(
        header(&current, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    for query in ["", "?v=0000000000000000", "?x=1"] {
        let answer = answer("GET", &format!("/app/assets/api.js{query}"), None);
        assert_eq!(
            header(&answer, "cache-control"),
            Some("no-cache"),
            "{query}"
        );
    }
}

#[test]
fn a_matching_etag_is_304_without_a_body() {
    let first = answer("GET", "/app/assets/app.css", None);
    let etag = header(&first, "etag").expect("an ETag").to_owned();
    for if_none_match in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_owned(),
    ] {
        let again = answer("GET", "/app/assets/app.css", Some(&if_none_match));
        assert_eq!(again.status, 304, "{if_none_match}");
        assert!(again.body.is_empty());
        assert_eq!(header(&again, "etag"), Some(etag.as_str()));
        assert_eq!(header(&again, "content-type"), None);
    }
    let other = answer("GET", "/app/assets/app.css", Some("\"other\""));
    assert_eq!(other.status, 200);
    let page = answer("GET", "/app", None);
    let page_etag = header(&page, "etag").expect("an ETag").to_owned();
    assert_eq!(answer("GET", "/app", Some(&page_etag)).status, 304);
    assert_ne!(page_etag, etag);
}

#[test]
fn head_answers_like_get_without_a_body_and_other_methods_are_405() {
    let get = answer("GET", "/app/assets/seatmap.js", None);
    let head = answer("HEAD", "/app/assets/seatmap.js", None);
    assert_eq!(head.status, 200);
    assert_eq!(head.headers, get.headers);
    assert!(head.body.is_empty());
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let answer = answer(method, "/app", None);
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(header(&answer, "allow"), Some("GET, HEAD"));
        assert_eq!(
            problem_type(&answer),
            format!("{PROBLEM_TYPE_PREFIX}method-not-allowed")
        );
    }
    // An unknown path is 404 whatever the method.
    assert_eq!(answer("POST", "/app/nope", None).status, 404);
}

#[test]
fn the_version_changes_with_any_asset() {
    // The version is a hash over every asset's hash, in name order: two
    // assets never share an ETag here, and the version is none of them.
    let mut hashes: Vec<u64> = ASSETS.iter().map(|asset| asset.hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), ASSETS.len());
    assert!(!hashes.contains(&VERSION));
}
