//! Spin component: PUT /events/:event_id (admin) and GET /events/:event_id.
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
        Component::Inventory,
        booking_core::handle_inventory,
        request,
        response_out,
    )
    .await
}
