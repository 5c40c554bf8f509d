//! Spin component: GET /events/:event_id/availability, and problem+json 404s for unknown paths.
//! Parsing, the booking logic and the reply all live in the shared core; this
//! adapter only names which routes it owns.

// The export glue `#[http_component]` generates is unsafe code by necessity.
#![allow(unsafe_code)]

use booking_core::Component;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    spin_adapter::serve(Component::Availability, request).await
}
