// The booking API as both pages use it: requests with bounded time, the
// event id from the URL, the customer id, and live availability (the change
// feed where the server has one, else polling).
"use strict";

(function () {
  const body = document.body.dataset;
  const limits = {
    holdUnitsMax: Number(body.holdUnitsMax) || 10,
    idLengthMax: Number(body.idLengthMax) || 64,
  };
  // The API's id rule (README "API"): checked here so a bad URL gets a clear
  // message instead of a 404 from the server.
  const idRule = new RegExp("^[A-Za-z0-9][A-Za-z0-9._-]{0," + (limits.idLengthMax - 1) + "}$");
  const requestTimeoutMs = 10000;
  // Availability is read at most this often, whatever triggers it.
  const refreshGapMs = 250;
  // Without a feed, how often availability is polled (URL `poll_ms` may
  // change it within the bounds).
  const pollIntervalMsDefault = 700;
  const pollIntervalMsMin = 200;
  const pollIntervalMsMax = 10000;
  // With a feed, a slow poll still runs: expiry is decided when read, so a
  // hold can end without any record in the feed at that moment.
  const feedSafetyPollMs = 5000;
  // Catching up on the feed's history before streaming: pages of this many
  // records, at most this many pages (the records only trigger re-reads).
  const feedPageLimit = 1000;
  const feedCatchUpPagesMax = 50;
  // Streams in a row that end without opening before the fast poll takes over.
  const feedFailuresMax = 2;
  // Hold expiries the page re-reads at (from the feed's records), at most.
  const expiriesTrackedMax = 1000;
  const expiryReadDelayMs = 300;
  // setTimeout's own limit is about 24.8 days; re-armed past it.
  const timerMsMax = 2 ** 31 - 1;
  // After the feed failed, try it again this much later.
  const feedRetryMs = 30000;

  class NetworkError extends Error {}

  // One API request: resolves to {status, body, headers}; a network failure
  // or timeout rejects with NetworkError (the caller decides about retries).
  async function request(method, path, options = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.timeoutMs || requestTimeoutMs);
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    let init = { method, headers, signal: controller.signal, cache: "no-store" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    try {
      const response = await fetch(path, init);
      const text = await response.text();
      let parsed = null;
      try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = null; }
      return { status: response.status, body: parsed, headers: response.headers };
    } catch (error) {
      throw new NetworkError(error && error.name === "AbortError" ? "timed out" : String(error));
    } finally {
      clearTimeout(timer);
    }
  }

  // A problem document's text for people.
  function problemText(answer) {
    const problem = answer.body || {};
    return problem.detail || problem.title || "HTTP " + answer.status;
  }

  function problemSlug(answer) {
    const type = (answer.body && answer.body.type) || "";
    return type.slice(type.lastIndexOf("/") + 1);
  }

  // The event id: `?event=ID`, or the path `/app/events/ID[/organiser]`.
  function eventIdFromLocation() {
    let raw = new URLSearchParams(location.search).get("event");
    if (raw === null) {
      const match = location.pathname.match(/^\/app\/events\/([^/]+)/);
      if (match) {
        try { raw = decodeURIComponent(match[1]); } catch (_) { raw = null; }
      }
    }
    return raw !== null && idRule.test(raw) ? raw : null;
  }

  // 128 random bits as hex: an Idempotency-Key (16..128 printable ASCII).
  // getRandomValues, not randomUUID: the latter needs a secure context.
  function randomHex(bytes) {
    const values = crypto.getRandomValues(new Uint8Array(bytes));
    return Array.from(values, (v) => v.toString(16).padStart(2, "0")).join("");
  }

  // The buyer's customer id, kept in localStorage so holds survive a reload.
  function customerId() {
    const storageKey = "booking.customer_id";
    let id = null;
    try { id = localStorage.getItem(storageKey); } catch (_) { id = null; }
    if (!id || !idRule.test(id)) {
      id = "c-" + randomHex(8);
      try { localStorage.setItem(storageKey, id); } catch (_) { /* private mode: per page */ }
    }
    return id;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function pollIntervalMs() {
    const asked = Number(new URLSearchParams(location.search).get("poll_ms"));
    if (!Number.isFinite(asked) || asked <= 0) return pollIntervalMsDefault;
    return Math.min(pollIntervalMsMax, Math.max(pollIntervalMsMin, asked));
  }

  // Keeps an event's availability current: reads it on demand (at most one
  // read in flight, reads at least refreshGapMs apart), on every feed record,
  // and by polling. onAvailability(body) gets every answer; onMode(mode,
  // text) says how the page is kept live ("feed", "poll", "error");
  // onChange(record) gets each feed record.
  class LiveAvailability {
    constructor(eventId, onAvailability, onMode, onChange) {
      this.eventId = eventId;
      this.onAvailability = onAvailability;
      this.onMode = onMode;
      // Optional: every feed record, for a page that follows its own holds.
      this.onChange = onChange || (() => {});
      this.mode = "starting";
      this.modeText = "";
      this.failing = false;
      this.inFlight = false;
      this.pending = false;
      this.timer = null;
      this.lastReadAt = 0;
      this.pollTimer = null;
      this.source = null;
      this.changes = 0;
      this.expiries = [];
      this.expiryTimer = null;
    }

    async start() {
      await this.refreshNow();
      await this.connectFeed();
    }

    setMode(mode, text) {
      this.mode = mode;
      this.modeText = text;
      this.onMode(mode, text);
    }

    // Asks for a fresh read; coalesces bursts (one hold spanning several
    // documents yields several records) into reads refreshGapMs apart.
    refresh() {
      if (this.inFlight) { this.pending = true; return; }
      if (this.timer !== null) return;
      const waitMs = Math.max(0, this.lastReadAt + refreshGapMs - Date.now());
      this.timer = setTimeout(() => { this.timer = null; this.refreshNow(); }, waitMs);
    }

    async refreshNow() {
      if (this.inFlight) { this.pending = true; return; }
      this.inFlight = true;
      this.lastReadAt = Date.now();
      try {
        const answer = await request("GET", "/events/" + encodeURIComponent(this.eventId) + "/availability");
        if (answer.status === 200 && answer.body) {
          this.onAvailability(answer.body);
          if (this.failing) { this.failing = false; this.onMode(this.mode, this.modeText); }
        } else {
          this.failing = true;
          this.onMode("error", "availability: " + problemText(answer));
        }
      } catch (error) {
        this.failing = true;
        this.onMode("error", "availability unreachable (" + error.message + "); retrying");
      } finally {
        this.inFlight = false;
        if (this.pending) { this.pending = false; this.refresh(); }
      }
    }

    schedulePoll(intervalMs) {
      clearInterval(this.pollTimer);
      this.pollTimer = setInterval(() => {
        if (!document.hidden) this.refresh();
      }, intervalMs);
    }

    // Feature detection: a 200 from GET /changes means the server has the
    // feed; anything else (404 today) means polling.
    async connectFeed() {
      const base = "/events/" + encodeURIComponent(this.eventId) + "/changes";
      let cursor = null;
      try {
        for (let page = 0; page < feedCatchUpPagesMax; page++) {
          const query = "?limit=" + feedPageLimit + (cursor ? "&after=" + encodeURIComponent(cursor) : "");
          const answer = await request("GET", base + query);
          if (answer.status !== 200 || !answer.body || !Array.isArray(answer.body.changes)) {
            return this.usePolling("no change feed: HTTP " + answer.status);
          }
          cursor = answer.body.next || cursor;
          if (answer.body.changes.length < feedPageLimit) break;
        }
      } catch (error) {
        return this.usePolling("change feed unreachable");
      }
      this.openStream(base + "?limit=" + feedPageLimit + (cursor ? "&after=" + encodeURIComponent(cursor) : ""));
    }

    // The server answers each stream request once it has records (or after
    // its wait) and ends it; EventSource then reconnects by itself, sending
    // Last-Event-ID. So an ending stream is normal; streams that end without
    // ever opening mean the feed is failing, and the fast poll takes over.
    openStream(url) {
      if (typeof EventSource === "undefined") return this.usePolling("no EventSource in this browser");
      const source = new EventSource(url);
      this.source = source;
      let opened = false;
      let failures = 0;
      this.setMode("feed", "live: change feed");
      this.schedulePoll(feedSafetyPollMs);
      source.addEventListener("open", () => {
        opened = true;
        if (failures >= feedFailuresMax) this.setMode("feed", "live: change feed");
        failures = 0;
        this.schedulePoll(feedSafetyPollMs);
      });
      source.addEventListener("change", (event) => this.onRecord(event.data));
      // Records the server no longer had: whatever they were, re-read.
      source.addEventListener("missed", () => this.refresh());
      source.addEventListener("error", () => {
        if (source.readyState === EventSource.CLOSED) {
          // Refused (not a stream answer): poll, and try the feed later.
          this.source = null;
          this.usePolling("change feed refused");
          setTimeout(() => this.connectFeed(), feedRetryMs);
          return;
        }
        failures = opened ? 0 : failures + 1;
        opened = false;
        if (failures === feedFailuresMax) this.usePolling("change feed unreachable; reconnecting");
      });
    }

    onRecord(data) {
      this.changes += 1;
      let record = null;
      try { record = JSON.parse(data); } catch (_) { record = null; }
      if (!record || record.section === undefined) return;
      // Whatever the record says, the counts are re-read rather than
      // patched: the read is the truth, records only say "look".
      this.refresh();
      this.onChange(record);
      const expiresMs = Date.parse(record.expires_at);
      if (record.type === "hold-placed" && Number.isFinite(expiresMs)) this.expireAt(expiresMs);
    }

    // Expiry is decided when read: no record marks the moment a hold runs
    // out, so the page re-reads when a hold it heard of would expire.
    expireAt(expiresMs) {
      if (this.expiries.length >= expiriesTrackedMax || expiresMs <= Date.now()) return;
      this.expiries.push(expiresMs);
      this.expiries.sort((a, b) => a - b);
      this.armExpiryTimer();
    }

    armExpiryTimer() {
      clearTimeout(this.expiryTimer);
      if (this.expiries.length === 0) return;
      // A little after the expiry, so the read sees it (clocks differ too).
      const waitMs = Math.max(0, this.expiries[0] - Date.now()) + expiryReadDelayMs;
      this.expiryTimer = setTimeout(() => {
        const now = Date.now();
        this.expiries = this.expiries.filter((at) => at + expiryReadDelayMs > now);
        this.refresh();
        this.armExpiryTimer();
      }, Math.min(waitMs, timerMsMax));
    }

    usePolling(why) {
      const intervalMs = pollIntervalMs();
      this.setMode("poll", "live: polling every " + (intervalMs / 1000).toFixed(1) + " s (" + why + ")");
      this.schedulePoll(intervalMs);
    }
  }

  window.Booking = {
    limits, idRule, NetworkError, request, problemText, problemSlug, eventIdFromLocation,
    randomHex, customerId, sleep, LiveAvailability,
  };
})();
