//! `GET /events/:event_id/changes?after=<cursor>&limit=<n>`: the event's
//! change records in order, and the cursor to resume from.
//!
//! Records live in the documents they describe (see `changes`): the event's
//! creation in its definition, every part's changes in its inventory
//! document. A page is one batch read of those documents; the records past
//! the cursor are merged by (time, document, seq) and the first `limit`
//! taken, which is a prefix of every document's own sequence, so the next
//! cursor (the last `seq` taken of every document) resumes exactly: nothing
//! twice, nothing skipped. When a consumer fell further behind on a
//! document than the document keeps, the page says which records it missed
//! (`missed`) instead of pretending.

use crate::context::Ctx;
use crate::env::{Env, rfc3339};
use crate::error::BookingError;
use crate::feed_pages;
use crate::http::{Request, authorize_organiser};
use crate::ids::HoldRef;
use crate::limits::{
    FEED_PAGE_READ_ROUNDS_MAX, FEED_PAGE_READS_MAX, FEED_PAGE_RECORDS_DEFAULT,
    FEED_PAGE_RECORDS_MAX, FEED_PAGES_PER_DOCUMENT, FEED_POLL_MILLISECONDS,
    FEED_RETRY_MILLISECONDS, FEED_WAIT_SECONDS_MAX,
};
use crate::meta::ready_meta;
use crate::model::{EventDoc, EventMeta, InventoryDoc, definition_key};
use crate::records::ChangeRecord;
use crate::store::Store;
use crate::{cas, http::Reply};
use serde_json::{Value, json};

/// Where a consumer stands: the last `seq` it has of every document of the
/// event (position 0: the event's definition; then every inventory
/// document, section by section).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(pub Vec<u64>);

const CURSOR_PREFIX: &str = "c1";

impl Cursor {
    /// `c1` and each position as a hex LEB128 varint: short for the small
    /// numbers most positions hold, and safe in a URL unescaped.
    pub fn encode(&self) -> String {
        let mut text = String::from(CURSOR_PREFIX);
        for value in &self.0 {
            let mut rest = *value;
            loop {
                let low = (rest & 0x7f) as u8;
                rest >>= 7;
                let byte = if rest == 0 { low } else { low | 0x80 };
                text.push_str(&format!("{byte:02x}"));
                if rest == 0 {
                    break;
                }
            }
        }
        text
    }

    /// The cursor `text` names, if it is one for `positions` documents.
    pub fn decode(text: &str, positions: usize) -> Option<Cursor> {
        let hex = text.strip_prefix(CURSOR_PREFIX)?;
        if !hex.len().is_multiple_of(2) || hex.len() > positions * 20 {
            return None;
        }
        let mut values = Vec::with_capacity(positions);
        let (mut value, mut shift) = (0u64, 0u32);
        for index in (0..hex.len()).step_by(2) {
            let byte = u8::from_str_radix(hex.get(index..index + 2)?, 16).ok()?;
            if shift > 63 {
                return None;
            }
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                values.push(value);
                (value, shift) = (0, 0);
            } else {
                shift += 7;
            }
        }
        (shift == 0 && values.len() == positions).then_some(Cursor(values))
    }
}

/// One record of the feed, with where it came from.
#[derive(Debug, Clone)]
pub struct FeedRecord {
    /// Position of its document in the cursor.
    pub position: usize,
    /// `event` or `<section id>/<document index>`.
    pub document: String,
    pub section: Option<(usize, String)>,
    pub record: Option<ChangeRecord>,
    pub seq: u64,
    pub at_ms: u64,
}

/// A page of the feed.
#[derive(Debug, Clone)]
pub struct Page {
    pub records: Vec<FeedRecord>,
    /// The cursor after each record (same length as `records`).
    pub cursors: Vec<Cursor>,
    pub next: Cursor,
    /// (document, first seq missed, last seq missed).
    pub missed: Vec<(String, u64, u64)>,
}

/// `GET /events/:event_id/changes`: a JSON page, or with
/// `Accept: text/event-stream` server-sent events (see [`stream`]).
pub fn get<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    let meta = ready_meta(ctx, event_id)?;
    // Customer ids are organiser data, as in `/stats`: a public reader (the
    // seat map) gets the records without them.
    let names_customers = authorize_organiser(ctx, request).is_ok();
    let query = request.path.split_once('?').map_or("", |(_, query)| query);
    let (after, limit, wait_seconds) = parse_query(&meta, query)?;
    let wants_events = request
        .header("accept")
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if wants_events {
        // EventSource resends the id of the last event it got.
        let after = match request.header("last-event-id").filter(|id| !id.is_empty()) {
            Some(id) => Cursor::decode(id.trim(), positions(&meta))
                .ok_or_else(|| bad_cursor_for(id.trim()))?,
            None => after,
        };
        return stream(ctx, &meta, after, limit, wait_seconds, names_customers);
    }
    let page = read_page(ctx, &meta, after, limit)?;
    let changes: Vec<Value> = page
        .records
        .iter()
        .map(|record| shown(record_json(&meta, record), names_customers))
        .collect();
    Ok(Reply::json(
        200,
        &json!({
            "event_id": meta.event_id,
            "changes": changes,
            "next": page.next.encode(),
            "missed": missed_json(&page),
            "as_of": rfc3339(ctx.env.now_ms()),
        }),
    ))
}

/// A cursor in the right form (`c1` and hex) that is not one of this
/// event's (another event's, or altered) is 422; anything else 400.
fn bad_cursor_for(text: &str) -> BookingError {
    let hex = text.strip_prefix(CURSOR_PREFIX).unwrap_or("x");
    let well_formed =
        hex.len().is_multiple_of(2) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let detail = "`after` (or Last-Event-ID) must be a cursor this event's feed gave";
    if well_formed {
        BookingError::invalid("cursor-not-of-this-event", detail)
    } else {
        BookingError::BadRequest(detail.into())
    }
}

fn missed_json(page: &Page) -> Vec<Value> {
    page.missed
        .iter()
        .map(|(document, from, to)| json!({"document": document, "from_seq": from, "to_seq": to}))
        .collect()
}

/// Server-sent events: waits (polling the documents every
/// [`FEED_POLL_MILLISECONDS`], at most `wait_seconds`) until records past
/// the cursor exist, sends them, each with its cursor as the event id, and
/// ends the response. The client reconnects (EventSource does, after the
/// `retry` delay, sending `Last-Event-ID`), so a connection holds an
/// instance for at most the wait, never for the whole sale.
fn stream<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    after: Cursor,
    limit: usize,
    wait_seconds: u64,
    names_customers: bool,
) -> Result<Reply, BookingError> {
    let rounds = (wait_seconds * 1_000 / FEED_POLL_MILLISECONDS).max(1);
    let mut page = read_page(ctx, meta, after.clone(), limit)?;
    for _ in 1..rounds {
        if !page.records.is_empty() || !page.missed.is_empty() {
            break;
        }
        ctx.env.sleep_ms(FEED_POLL_MILLISECONDS);
        page = read_page(ctx, meta, after.clone(), limit)?;
    }
    let mut text = format!("retry: {FEED_RETRY_MILLISECONDS}\n\n");
    for missed in missed_json(&page) {
        text.push_str(&format!("event: missed\ndata: {missed}\n\n"));
    }
    for (record, cursor) in page.records.iter().zip(&page.cursors) {
        let mut body = shown(record_json(meta, record), names_customers);
        let id = cursor.encode();
        body["cursor"] = json!(id);
        text.push_str(&format!("id: {id}\nevent: change\ndata: {body}\n\n"));
    }
    if page.records.is_empty() {
        // A comment: the stream is alive, nothing new.
        text.push_str(": no changes\n\n");
    }
    Ok(Reply {
        status: 200,
        content_type: "text/event-stream",
        headers: vec![("cache-control".into(), "no-store".into())],
        body: text.into_bytes(),
        log: None,
    })
}

/// Documents in cursor order: 1 (the definition) + every inventory document.
pub fn positions(meta: &EventMeta) -> usize {
    1 + meta.sections.iter().map(|s| s.docs as usize).sum::<usize>()
}

/// `after` (default: the start), `limit` (default
/// [`FEED_PAGE_RECORDS_DEFAULT`], at most [`FEED_PAGE_RECORDS_MAX`]) and,
/// for server-sent events, `wait_seconds` (default and at most
/// [`FEED_WAIT_SECONDS_MAX`]).
pub fn parse_query(meta: &EventMeta, query: &str) -> Result<(Cursor, usize, u64), BookingError> {
    let mut after = Cursor(vec![0; positions(meta)]);
    let mut limit = FEED_PAGE_RECORDS_DEFAULT;
    let mut wait_seconds = FEED_WAIT_SECONDS_MAX;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "after" => {
                after =
                    Cursor::decode(value, positions(meta)).ok_or_else(|| bad_cursor_for(value))?;
            }
            "wait_seconds" => {
                wait_seconds = value
                    .parse::<u64>()
                    .ok()
                    .filter(|wait| *wait <= FEED_WAIT_SECONDS_MAX)
                    .ok_or_else(|| {
                        BookingError::BadRequest(format!(
                            "`wait_seconds` must be a whole number from 0 to {FEED_WAIT_SECONDS_MAX}"
                        ))
                    })?;
            }
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|limit| (1..=FEED_PAGE_RECORDS_MAX).contains(limit))
                    .ok_or_else(|| {
                        BookingError::BadRequest(format!(
                            "`limit` must be a whole number from 1 to {FEED_PAGE_RECORDS_MAX}"
                        ))
                    })?;
            }
            // Unknown parameters are ignored, like unknown JSON fields.
            _ => {}
        }
    }
    Ok((after, limit, wait_seconds))
}

/// The records after `after`, at most `limit`, in order: one batch read of
/// the documents, and at most [`FEED_PAGE_READ_ROUNDS_MAX`] of the feed
/// pages of at most [`FEED_PAGE_READS_MAX`] documents the cursor is behind
/// on.
pub fn read_page<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    after: Cursor,
    limit: usize,
) -> Result<Page, BookingError> {
    let mut keys = vec![definition_key(&meta.event_id, meta.generation)];
    let mut places = vec![None];
    for (section, layout) in meta.sections.iter().enumerate() {
        for doc in 0..layout.docs as usize {
            keys.push(meta.inventory_key(section, doc));
            places.push(Some(Place {
                section,
                doc,
                document: format!("{}/{doc}", layout.id),
                section_id: layout.id.clone(),
            }));
        }
    }
    debug_assert_eq!(keys.len(), after.0.len());
    let values = ctx.store.get_many(&keys)?;
    let mut read = Read {
        after,
        ..Read::default()
    };
    for (position, ((key, value), place)) in keys.iter().zip(values).zip(places).enumerate() {
        let bytes = value
            .ok_or_else(|| BookingError::Internal(format!("event document {key} is missing")))?;
        let Some(place) = place else {
            let event: EventDoc = cas::decode(key, &bytes)?;
            if read.after.0[position] < 1 {
                read.pending.push(FeedRecord {
                    position,
                    document: "event".into(),
                    section: None,
                    record: None,
                    seq: 1,
                    at_ms: event.created_ms,
                });
            }
            continue;
        };
        let doc: InventoryDoc = cas::decode(key, &bytes)?;
        read.take_document(meta, position, place, doc);
    }
    // A round that finds a document's page replaced moves its cursor past
    // what is gone; the next reads on from there, so a page is not empty
    // while records wait.
    for _ in 0..FEED_PAGE_READ_ROUNDS_MAX {
        if read.behind.is_empty() {
            break;
        }
        read.take_pages(ctx, meta)?;
    }
    Ok(read.page(limit))
}

/// Where an inventory document is: for keys and for the records' names.
#[derive(Debug, Clone)]
struct Place {
    section: usize,
    doc: usize,
    /// `<section id>/<document index>`.
    document: String,
    section_id: String,
}

/// A document the cursor is behind on (its oldest record is past the
/// cursor's next): the rest comes from its feed pages.
#[derive(Debug)]
struct Behind {
    position: usize,
    place: Place,
    doc: InventoryDoc,
}

/// A page being read: records found, what was missed, documents behind.
#[derive(Debug, Default)]
struct Read {
    /// The cursor, moved past what was missed.
    after: Cursor,
    pending: Vec<FeedRecord>,
    missed: Vec<(String, u64, u64)>,
    behind: Vec<Behind>,
    /// The (time, position, seq) of the last record taken of a document
    /// whose records go on in pages not read: nothing after it is sent, so
    /// the page stays in order across documents.
    horizon: Option<(u64, usize, u64)>,
}

impl Read {
    /// The records of `doc` past the cursor, or, when the cursor is behind
    /// its oldest record, a note to read its feed pages (at most
    /// [`FEED_PAGE_READS_MAX`] documents a page; the others follow later).
    fn take_document(
        &mut self,
        meta: &EventMeta,
        position: usize,
        place: Place,
        doc: InventoryDoc,
    ) {
        let seen = self.after.0[position];
        let oldest = doc.changes.first().map_or(seen + 1, |first| first.seq);
        if oldest > seen + 1 {
            if meta.feed_pages {
                if self.behind.len() < FEED_PAGE_READS_MAX {
                    self.behind.push(Behind {
                        position,
                        place,
                        doc,
                    });
                }
                return;
            }
            // An event created before feed pages existed: gone.
            self.skip(position, &place, oldest - 1);
        }
        self.take_records(position, &place, doc.changes);
    }

    /// Records past the cursor, from a document or a page.
    fn take_records(&mut self, position: usize, place: &Place, records: Vec<ChangeRecord>) {
        let seen = self.after.0[position];
        for record in records.into_iter().filter(|r| r.seq > seen) {
            self.pending.push(FeedRecord {
                position,
                document: place.document.clone(),
                section: Some((place.section, place.section_id.clone())),
                seq: record.seq,
                at_ms: record.at_ms,
                record: Some(record),
            });
        }
    }

    /// Records the cursor lost (through `to_seq`) and moves it past them.
    fn skip(&mut self, position: usize, place: &Place, to_seq: u64) {
        let seen = self.after.0[position];
        if to_seq > seen {
            self.missed.push((place.document.clone(), seen + 1, to_seq));
            self.after.0[position] = to_seq;
        }
    }

    /// For every document behind: the records of the page that holds the
    /// cursor's next, and the document's own when the page reaches them;
    /// or, past the retention, what was missed.
    fn take_pages<S: Store, E: Env>(
        &mut self,
        ctx: &Ctx<'_, S, E>,
        meta: &EventMeta,
    ) -> Result<(), BookingError> {
        let wanted: Vec<(usize, usize, u64)> = self
            .behind
            .iter()
            .map(|b| {
                let seen = self.after.0[b.position];
                (b.place.section, b.place.doc, feed_pages::page_of(seen + 1))
            })
            .collect();
        let pages = feed_pages::read(ctx, meta, &wanted)?;
        crate::coverage::hit(crate::coverage::Path::FeedReadFromPage);
        let behind = std::mem::take(&mut self.behind);
        let mut again = Vec::new();
        for ((behind, page), (_, _, number)) in behind.into_iter().zip(pages).zip(wanted) {
            let Behind {
                position,
                place,
                doc,
            } = behind;
            let oldest = doc.changes.first().map_or(0, |first| first.seq);
            let seen = self.after.0[position];
            match page {
                Some(page) if page.page > number => {
                    // Replaced: the ring keeps the pages from this one on.
                    let kept = (page.page + 1).saturating_sub(FEED_PAGES_PER_DOCUMENT as u64);
                    let to_seq = (feed_pages::first_seq(kept) - 1).min(oldest - 1);
                    self.skip(position, &place, to_seq);
                    if to_seq + 1 == oldest {
                        self.take_records(position, &place, doc.changes);
                    } else {
                        again.push(Behind {
                            position,
                            place,
                            doc,
                        });
                    }
                }
                Some(page)
                    if page.page == number && page.records.iter().any(|r| r.seq == seen + 1) =>
                {
                    let records: Vec<ChangeRecord> = page
                        .records
                        .into_iter()
                        .filter(|r| r.seq < oldest)
                        .collect();
                    let reached = records.last().is_some_and(|last| last.seq + 1 == oldest);
                    if let (false, Some(last)) = (reached, records.last()) {
                        let end = (last.at_ms, position, last.seq);
                        self.horizon = Some(self.horizon.map_or(end, |h| h.min(end)));
                    }
                    self.take_records(position, &place, records);
                    if reached {
                        self.take_records(position, &place, doc.changes);
                    }
                }
                // No page, or one without the records it should hold (a
                // broken store): what the document lacks is gone.
                _ => {
                    self.skip(position, &place, oldest - 1);
                    self.take_records(position, &place, doc.changes);
                }
            }
        }
        self.behind = again;
        Ok(())
    }

    /// The first `limit` records in order, with the cursors after them.
    fn page(self, limit: usize) -> Page {
        let mut pending = self.pending;
        // Within a document, times never go back and seq grows: this order
        // keeps each document's records in sequence, so any prefix of it is
        // a prefix of every document's records.
        pending.sort_by_key(|r| (r.at_ms, r.position, r.seq));
        if let Some(horizon) = self.horizon {
            pending.retain(|r| (r.at_ms, r.position, r.seq) <= horizon);
        }
        pending.truncate(limit);
        let mut next = self.after;
        let mut cursors = Vec::with_capacity(pending.len());
        for record in &pending {
            debug_assert!(record.seq > next.0[record.position]);
            next.0[record.position] = record.seq;
            cursors.push(next.clone());
        }
        Page {
            records: pending,
            cursors,
            next,
            missed: self.missed,
        }
    }
}

/// A record as this reader may see it: without its `customer_id` unless the
/// reader presented the organiser or admin token.
fn shown(mut record: Value, names_customers: bool) -> Value {
    if !names_customers && let Some(fields) = record.as_object_mut() {
        fields.remove("customer_id");
    }
    record
}

/// A record as the feed shows it.
pub fn record_json(meta: &EventMeta, record: &FeedRecord) -> Value {
    let order = format!(
        "{:015}.{:05}.{:012}",
        record.at_ms, record.position, record.seq
    );
    let mut body = json!({
        "document": record.document,
        "seq": record.seq,
        "order": order,
        "at": rfc3339(record.at_ms),
    });
    let (Some(change), Some((section, section_id))) = (&record.record, &record.section) else {
        body["type"] = json!("event-created");
        return body;
    };
    let doc = record
        .document
        .rsplit('/')
        .next()
        .and_then(|d| d.parse().ok());
    let primary_doc = change.primary_doc.map(|d| d as usize).or(doc).unwrap_or(0);
    let hold = HoldRef {
        event_id: meta.event_id.clone(),
        section: *section,
        doc: primary_doc,
        nonce: change.nonce.clone(),
    };
    body["type"] = json!(change.kind.name());
    body["hold_id"] = json!(hold.id());
    body["section"] = json!(section_id);
    if change.seats.is_empty() {
        body["quantity"] = json!(change.quantity);
    } else {
        body["quantity"] = json!(change.seats.len());
        body["seats"] = json!(change.seats);
    }
    if let Some(customer_id) = &change.customer_id {
        body["customer_id"] = json!(customer_id);
    }
    if let Some(expires_ms) = change.expires_ms {
        body["expires_at"] = json!(rfc3339(expires_ms));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_round_trip_and_refuse_foreign_text() {
        let cursor = Cursor(vec![0, 1, 127, 128, 300, u64::MAX]);
        let text = cursor.encode();
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(Cursor::decode(&text, 6), Some(cursor.clone()));
        // Another event's layout, a truncated or altered cursor: refused.
        assert_eq!(Cursor::decode(&text, 5), None);
        assert_eq!(Cursor::decode(&text[..text.len() - 2], 6), None);
        assert_eq!(Cursor::decode("c1zz", 1), None);
        assert_eq!(Cursor::decode("x100", 2), None);
        assert_eq!(Cursor::decode(&format!("c1{}", "ff".repeat(11)), 1), None);
    }
}
