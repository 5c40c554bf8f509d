//! Spin component: POST /events/:event_id/holds.
//! Parsing, the booking logic and the reply all live in the shared core; this
//! adapter only names its entry point there, which links only its own
//! operations into this component.

// The export glue `#[http_component]` generates is unsafe code by necessity.
#![allow(unsafe_code)]

use booking_core::Component;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    spin_adapter::serve(
        Component::Hold,
        booking_core::handle_hold,
        request,
        response_out,
    )
    .await
}
