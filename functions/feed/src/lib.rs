//! Spin component: GET /events/:event_id/changes (the change feed, JSON or
//! server-sent events) and GET /events/:event_id/stats (live sales figures).
//! Reads only, off the booking path. The feed, the stats and the reply live
//! in the shared core; this adapter only names its entry point there.

// The export glue `#[http_component]` generates is unsafe code by necessity.
#![allow(unsafe_code)]

use booking_core::Component;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    spin_adapter::serve(
        Component::Feed,
        booking_core::handle_feed,
        request,
        response_out,
    )
    .await
}
