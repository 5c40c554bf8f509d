//! Every bound of the system. A limit that is not written down here is a bug.
//!
//! What bounds each stored document, whatever clients do (issue 19):
//! - an inventory document (a shard or a seat block): live parts at most
//!   its units ([`SHARD_UNITS_MAX`], [`SEAT_BLOCK_SEATS_TARGET`]) plus
//!   [`ZERO_UNIT_PRIMARIES_PER_DOCUMENT_MAX`] zero-unit keyed primaries;
//!   ended parts at most [`ENDED_PARTS_PER_DOCUMENT_MAX`] +
//!   [`KEYED_ENDED_PARTS_PER_DOCUMENT_MAX`]; confirmed parts move to the
//!   ledger page once [`LEDGER_MOVE_PARTS_MIN`] of them are there; change
//!   records at most [`CHANGES_PER_DOCUMENT_MAX`] (see the feed's paging
//!   bound below for the records not yet copied to a page); the tally at
//!   most [`TALLY_MINUTES_MAX`] minutes and [`TALLY_CUSTOMERS_MAX`]
//!   customers; void marks one per attempt a fence or resolver voided,
//!   each kept until its attempt's expiry plus [`CLOCK_SKEW_MARGIN_SECONDS`].
//! - a ledger page: one part per confirmed hold whose primary or units were
//!   in its shard; at most the shard's units plus the confirmed zero-unit
//!   primaries of keyed holds homed there (each one a sold unit elsewhere
//!   in the section).
//! - a customer bucket: [`CUSTOMERS_PER_BUCKET_MAX`] customers (503 beyond).
//! - a section summary: one entry per shard ([`SHARDS_PER_SECTION_MAX`]).
//! - an event definition: [`ADMIN_REQUEST_BODY_BYTES_MAX`].

/// Largest request body accepted by the buyer-facing routes (holds, confirm,
/// release, reads); larger bodies get 413. A hold request is well under 1 KiB.
pub const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;

/// Largest request body of the admin route (`PUT /events/:event_id`, the
/// inventory component), so the documented limits are reachable: a
/// 10,000-seat section ([`SECTION_SEATS_MAX`]) with 64-character seat ids is
/// about 700 KB of JSON. Only a holder of the admin token can send it.
pub const ADMIN_REQUEST_BODY_BYTES_MAX: usize = 1024 * 1024;

/// Longest event, section, seat or customer id.
pub const ID_LENGTH_MAX: usize = 64;
/// Longest hold or booking id we ever produce or accept.
pub const HOLD_ID_LENGTH_MAX: usize = 200;
/// Longest event name.
pub const EVENT_NAME_LENGTH_MAX: usize = 200;
/// Shortest `Idempotency-Key` header value: keys must be hard to collide.
pub const IDEMPOTENCY_KEY_LENGTH_MIN: usize = 16;
/// Longest `Idempotency-Key` header value.
pub const IDEMPOTENCY_KEY_LENGTH_MAX: usize = 128;
/// Shortest admin token (after trimming): a shorter one leaves the admin
/// routes disabled, so that a placeholder like `secret` cannot guard them.
pub const ADMIN_TOKEN_LENGTH_MIN: usize = 16;
/// Clock difference tolerated on a buyer token's `exp` and `nbf`: the
/// login server's clock and ours may be a few seconds apart.
pub const BUYER_TOKEN_LEEWAY_SECONDS: u64 = 30;
/// Keys `buyer_token_key` may list: enough for an old and a new key side by
/// side during a rotation, and a bound on the work a bad token costs.
pub const BUYER_TOKEN_KEYS_MAX: usize = 4;
/// Shortest HS256 secret: RFC 7518 §3.2 asks for at least the hash's size.
pub const BUYER_TOKEN_SECRET_BYTES_MIN: usize = 32;
/// Longest `Authorization` value a buyer may send: a JWT from a login is a
/// few hundred bytes; a longer one is refused before any decoding.
pub const BUYER_TOKEN_BYTES_MAX: usize = 4096;
/// Longest payment reference.
pub const PAYMENT_REF_LENGTH_MAX: usize = 128;

/// Sections per event.
pub const SECTIONS_PER_EVENT_MAX: usize = 100;
/// Units of a general-admission section.
pub const SECTION_CAPACITY_MAX: u32 = 1_000_000;
/// Seats of an assigned-seating section.
pub const SECTION_SEATS_MAX: usize = 10_000;
/// Units (or seats) a single hold may take.
pub const HOLD_UNITS_MAX: u32 = 10;
/// `max_per_customer` upper bound.
pub const CUSTOMER_UNITS_MAX: u32 = 1_000;

/// Hold lifetime bounds and the default when neither the event nor the
/// `hold_ttl_seconds` variable says otherwise.
pub const HOLD_TTL_SECONDS_MIN: u32 = 1;
pub const HOLD_TTL_SECONDS_MAX: u32 = 86_400;
pub const HOLD_TTL_SECONDS_DEFAULT: u32 = 300;

/// A general-admission shard never holds more units than this, because every
/// booking of a shard lives in its document and every CAS rewrites the whole
/// document: this bounds a shard document to well under 64 KiB of bookings
/// in the common case (quantity > 1) and under 1 MB in the worst.
pub const SHARD_UNITS_MAX: u32 = 1_000;
/// Default shards aim at this many units each, so that a flash sale of a few
/// hundred units spreads over several documents.
pub const SHARD_UNITS_TARGET: u32 = 64;
/// Upper bound of the default shard count (an explicit `shards` may go higher
/// up to [`SHARDS_PER_SECTION_MAX`]).
pub const SHARDS_DEFAULT_MAX: u32 = 16;
/// Upper bound of an explicit `shards` value.
pub const SHARDS_PER_SECTION_MAX: u32 = 1_000;
/// Seats per seat-block document.
pub const SEAT_BLOCK_SEATS_TARGET: usize = 64;
/// Inventory documents an event may own: keys are bounded by the layout.
pub const EVENT_DOCUMENTS_MAX: usize = 4_096;

/// Customer bookkeeping buckets per event (only with `max_per_customer`).
pub const CUSTOMER_BUCKETS: u32 = 16;
/// Customers with holds or bookings per bucket: a full bucket refuses new
/// customers (503) rather than forget one's bookings. An entry is the id
/// and a count (under 100 bytes), so a full bucket stays under 1 MB; 16
/// buckets take about 160,000 customers per event.
pub const CUSTOMERS_PER_BUCKET_MAX: usize = 10_000;
/// Expired reservations of other customers resolved per customer-bucket
/// write: amortised tidying that keeps buckets bounded by live customers.
pub const CUSTOMER_RESOLUTIONS_PER_WRITE_MAX: u32 = 8;
/// An Idempotency-Key is remembered this long after its hold ended (its
/// primary part, which is the key's record, is kept that long).
pub const IDEMPOTENCY_RETENTION_SECONDS: u64 = 24 * 3_600;

/// How far apart the clocks of two instances may be without effect on
/// anything but expiry times: marks and records whose purpose is to outlive
/// a stalled writer or a replay are kept this much longer than the windows
/// they guard. A larger skew can end a hold early or late by the skew, and
/// (beyond this margin) shorten those windows; it never moves ownership,
/// which is decided by CAS.
pub const CLOCK_SKEW_MARGIN_SECONDS: u64 = 3_600;

/// Ended (released or expired) hold parts kept per document, so that status
/// reads keep answering "released"/"expired" for a while.
pub const ENDED_PARTS_PER_DOCUMENT_MAX: usize = 64;
/// Ended hold parts are pruned after this long.
pub const ENDED_PARTS_RETENTION_SECONDS: u64 = 3_600;
/// A keyed hold about to answer "sold out" reads every document of a
/// section of at most this many, to see whether the units it lacks are
/// held by a twin of its own key in flight (then it answers 503, not 409).
/// Beyond it the check covers only the documents the hold read, so a twin
/// racing over full shards of a larger section may still see a 409.
pub const KEYED_SOLD_OUT_CHECK_DOCUMENTS_MAX: usize = 64;

/// Live zero-unit keyed primaries one document takes (keyed holds homed
/// there whose units all went to other documents because it was full):
/// each is a live hold with units elsewhere, so they are bounded by the
/// section's units, which may be 1,000,000; this bounds them per document
/// (about 200 bytes each). Beyond it a keyed hold homed there answers 503
/// `bookkeeping-full` with `Retry-After` until some end.
pub const ZERO_UNIT_PRIMARIES_PER_DOCUMENT_MAX: usize = 1_000;

/// Ended (released or expired) keyed primaries kept per document as the
/// records of their Idempotency-Keys. Without a count cap a client
/// cycling hold + release with fresh keys homed on one shard grows it
/// without bound (260 KB in 3,000 requests) and every hold there rewrites
/// it. Beyond the cap the oldest go: an ended hold's key is remembered for
/// [`IDEMPOTENCY_RETENTION_SECONDS`] or until this many newer keyed holds
/// homed on its document ended, whichever comes first; a replay after that
/// places a new hold (the first one ended: nothing is sold twice). A
/// confirmed hold's key is remembered for the life of the event (its
/// primary moves to the ledger page, never pruned). About 200 bytes each.
pub const KEYED_ENDED_PARTS_PER_DOCUMENT_MAX: usize = 128;

/// Confirmed parts a general shard keeps before a writer moves them to the
/// shard's ledger page (two more writes per move): few enough that shard
/// documents stay small, enough that moving costs little per booking.
pub const LEDGER_MOVE_PARTS_MIN: usize = 32;

/// Attempts of one read-modify-CAS on one document before giving up with 503.
pub const CAS_ATTEMPTS_MAX: u32 = 12;
/// CAS attempts a single-shard hold spends on its shard before it moves to
/// another shard with room (from the section it already read): conflicts
/// move elsewhere instead of piling up on one hot document.
pub const CAS_ATTEMPTS_BEFORE_MOVING: u32 = 2;
/// Back-off between CAS attempts: full jitter over an exponential window
/// starting here and capped below.
pub const CAS_BACKOFF_BASE_MILLISECONDS: u64 = 1;
pub const CAS_BACKOFF_CAP_MILLISECONDS: u64 = 32;
/// `Retry-After` sent with a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;
/// `Retry-After` when an idempotency bucket is full: records age out slowly.
pub const RETRY_AFTER_CAPACITY_SECONDS: u32 = 60;

/// A pending event creation older than this may be taken over by a retry of
/// the same definition.
pub const EVENT_CREATION_STALE_SECONDS: u64 = 30;

/// Change records each inventory document keeps once they are copied to
/// its feed pages (the newest): about 100 bytes each in the document every
/// CAS rewrites. Records not yet copied are never dropped (see
/// [`FEED_UNPAGED_RECORDS_MAX`]). For an event created before feed pages
/// existed this is all it keeps, and a consumer further behind is told what
/// it missed.
pub const CHANGES_PER_DOCUMENT_MAX: usize = 64;

/// Feed pages per inventory document, pre-created with the event (a swap on
/// a missing key is an upsert on Spin, so pages are never created later):
/// a ring, page `n` in slot `n % FEED_PAGES_PER_DOCUMENT`, the newer page
/// replacing the older. With [`FEED_PAGE_RECORDS`] this is the feed's
/// retention: at least the newest 2,048 records per document (the full
/// page before the current one) beyond the 64 it keeps itself, up to 4,096.
/// Two pages, not more: every page is a key written when the event is
/// created, one fsync each on Spin's store, so more pages made creating a
/// large event too slow (8 pages per document took a 850-document `PUT` past
/// 19 s). Time is not the bound, writes are: at the store's floor for one
/// document (about 1,500 writes/s, nearly all of one record) that is at
/// least 2,112 / 1,500 ≈ 1.4 s of a document written flat out; a sale of
/// 500 units on one shard writes a record per hold placed and one per hold
/// ended or confirmed (about 1,000 to 2,000 in a flash sale), so the whole
/// sale. A consumer that polls every 30 s keeps up with any document that
/// takes fewer than about 70 records a second.
pub const FEED_PAGES_PER_DOCUMENT: usize = 2;
/// Consecutive records per feed page (page `n` holds seq `2048n+1 ..=
/// 2048(n+1)`): about 200 KB, the most a page write rewrites.
pub const FEED_PAGE_RECORDS: u64 = 2_048;
/// Records not yet copied to feed pages at which a write of the document
/// copies them after it (best effort, two or more CAS writes): few enough
/// that documents stay small, enough that a copy costs little per record.
pub const FEED_MOVE_RECORDS_MIN: u64 = 32;
/// Records not yet copied to feed pages a document may hold as read before
/// its next write must copy them first (or answer 503): the copy after a
/// write is best effort, so this bounds a document's records when it keeps
/// failing. A document holds at most [`CHANGES_PER_DOCUMENT_MAX`] +
/// [`FEED_UNPAGED_RECORDS_MAX`] records, or the records of one write if it
/// made more (one per part it changed: a write that expires many holds).
pub const FEED_UNPAGED_RECORDS_MAX: u64 = 256;
/// Documents whose records a feed request reads from feed pages (one page
/// each, at most about 200 KB): bounded work per request; documents further
/// behind follow in later pages of the feed.
pub const FEED_PAGE_READS_MAX: usize = 4;
/// Batch reads of feed pages per feed request: a read that finds a page
/// past the retention moves the cursor past what is gone and reads on from
/// there (the ring's oldest page, as far as that read could tell).
pub const FEED_PAGE_READ_ROUNDS_MAX: usize = 3;

/// Minutes of per-minute counts each document's tally keeps.
pub const TALLY_MINUTES_MAX: usize = 60;

/// Customers each document's tally follows (the busiest).
pub const TALLY_CUSTOMERS_MAX: usize = 8;

/// A customer placing at least [`BURST_HOLDS_MIN`] holds in one document
/// within this many seconds is reported as a burst.
pub const BURST_WINDOW_SECONDS: u64 = 10;
pub const BURST_HOLDS_MIN: u64 = 4;

/// Records one feed page returns at most, and by default.
pub const FEED_PAGE_RECORDS_MAX: usize = 1_000;
pub const FEED_PAGE_RECORDS_DEFAULT: usize = 100;

/// Availability reads a general section of more shards than this through
/// its summary first, skipping shards sold through.
pub const AVAILABILITY_SUMMARY_SHARDS_MIN: usize = 16;

/// Customers the stats list per fraud signal (the worst first).
pub const STATS_CUSTOMERS_MAX: usize = 10;

/// Minutes with holds the sell-out projection takes its pace from.
pub const STATS_PROJECTION_MINUTES: usize = 5;

/// Server-sent events: the longest a request waits for new records before
/// ending (under hosted platforms' request limits; the client reconnects),
/// how often it looks meanwhile, and the reconnect delay it asks for.
pub const FEED_WAIT_SECONDS_MAX: u64 = 25;
pub const FEED_POLL_MILLISECONDS: u64 = 250;
pub const FEED_RETRY_MILLISECONDS: u64 = 500;

/// Customer-limit refusals counted per customer (each counted one is a
/// write of its bucket; past this, refusals are answered without a write).
pub const CUSTOMER_REFUSALS_COUNTED_MAX: u32 = 100;

/// Failed store writes one request makes before it answers 503: one retry
/// to learn whether an ambiguous write landed, no more, so a locked, full or
/// read-only store answers within a few store calls.
pub const STORE_ERRORS_PER_REQUEST_MAX: u32 = 2;
