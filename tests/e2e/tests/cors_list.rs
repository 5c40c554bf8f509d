//! `cors_origin` listing several origins, on the local runtime started here
//! (the other tests run against one server whose `cors_origin` is `*`).

use booking_host_spawn::{LocalRuntime, RuntimeOptions};

#[tokio::test]
async fn a_listed_origin_is_echoed_and_another_gets_no_allow_origin() {
    let options = RuntimeOptions::for_workspace()
        .variable("cors_origin", "https://a.example, https://b.example:8443");
    let app = LocalRuntime::start(&options).unwrap_or_else(|e| panic!("{e}"));
    let client = reqwest::Client::new();
    let url = format!("{}/no-such-route", app.base_url());
    for (origin, expected) in [
        ("https://b.example:8443", Some("https://b.example:8443")),
        ("https://a.example", Some("https://a.example")),
        ("https://c.example", None),
    ] {
        let reply = client
            .get(&url)
            .header("origin", origin)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reply.status().as_u16(), 404, "{origin}");
        let allowed = reply
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(allowed.as_deref(), expected, "{origin}");
        let vary = reply
            .headers()
            .get("vary")
            .map(|v| v.to_str().unwrap_or_default().to_ascii_lowercase());
        assert_eq!(vary.as_deref(), Some("origin"), "{origin}");
    }
}
