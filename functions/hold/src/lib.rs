//! Spin component: POST /events/:event_id/holds.
//! Parsing, the booking logic and the reply all live in the shared core; this
//! adapter only names which routes it owns.

// The export glue `#[http_component]` generates is unsafe code by necessity.
#![allow(unsafe_code)]

use booking_core::Component;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    spin_adapter::serve(Component::Hold, request).await
}
