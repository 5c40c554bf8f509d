// The organiser view: inventory per section (always, from availability) and
// the event's statistics with charts (where the server has GET /stats).
// The stats are organiser data: they take the organiser (or admin) token,
// typed into the form the page shows on a 401 or passed as #token=… (a
// fragment never reaches a server or its logs), and kept for this tab only.
"use strict";

(function () {
  const B = window.Booking;
  const C = window.Charts;
  const statsIntervalMs = 3000;
  // Rows shown per watch-list table.
  const watchRowsMax = 10;
  const partColors = { sold: "#3b4a6b", held: "#e08a00", available: "#2e9d5b" };
  const seriesColors = [
    { key: "holds", name: "holds", color: "#1f5fd1" },
    { key: "confirmations", name: "confirmations", color: "#2e9d5b" },
    { key: "releases", name: "releases", color: "#8a8f99" },
    { key: "expiries", name: "expiries", color: "#e08a00" },
  ];

  const element = (id) => document.getElementById(id);
  const tokenStorageKey = "booking-organiser-token";
  const state = { eventId: B.eventIdFromLocation(), sections: [], stats: null, statsAvailable: null, ready: false, live: null };

  function say(text, bad) {
    element("message").textContent = text;
    element("message").classList.toggle("bad", Boolean(bad));
  }

  function showMode(mode, text) {
    element("live").dataset.mode = mode;
    element("live").textContent = text;
  }

  function cell(row, field, value) {
    const node = document.createElement(row.parentNode && row.parentNode.tagName === "TFOOT" ? "th" : "td");
    node.dataset.field = field;
    node.textContent = value;
    row.appendChild(node);
  }

  function renderTable() {
    const totals = { capacity: 0, sold: 0, held: 0, available: 0 };
    const rows = state.sections.map((section) => {
      const row = document.createElement("tr");
      row.dataset.section = section.id;
      cell(row, "id", section.id);
      cell(row, "kind", section.kind || "");
      for (const field of ["capacity", "sold", "held", "available"]) {
        cell(row, field, section[field]);
        totals[field] += Number(section[field]) || 0;
      }
      return row;
    });
    element("sections").replaceChildren(...rows);
    const total = document.createElement("tr");
    total.dataset.section = "";
    element("sections-total").replaceChildren(total);
    cell(total, "id", "total");
    cell(total, "kind", "");
    for (const field of ["capacity", "sold", "held", "available"]) cell(total, field, totals[field]);
    return totals;
  }

  function renderSectionsChart() {
    const rows = state.sections.map((section) => ({
      label: section.id,
      parts: ["sold", "held", "available"].map((name) => ({ name, value: Number(section[name]) || 0, color: partColors[name] })),
    }));
    const parts = ["sold", "held", "available"].map((name) => ({ name, color: partColors[name] }));
    C.stackedBars(element("sections-chart"), rows, parts);
  }

  function tile(value, label) {
    const node = document.createElement("div");
    node.className = "tile";
    const strong = document.createElement("b");
    strong.textContent = value;
    const span = document.createElement("span");
    span.textContent = label;
    node.append(strong, span);
    return node;
  }

  const percent = (x) => (typeof x === "number" && Number.isFinite(x) ? (x * 100).toFixed(1) + " %" : "–");
  const seconds = (ms) => (typeof ms === "number" && Number.isFinite(ms) ? (ms / 1000).toFixed(1) + " s" : "–");
  const time = (t) => (typeof t === "string" && t ? t.replace("T", " ").replace(/\.\d+Z$/, "Z") : "–");

  function renderTiles(totals) {
    const tiles = [
      tile(totals.sold, "sold"),
      tile(totals.held, "held now"),
      tile(totals.available, "available"),
      tile(percent(totals.capacity ? totals.sold / totals.capacity : 0), "sold through"),
    ];
    const stats = state.stats;
    if (stats) {
      const t = stats.totals || {};
      const contention = stats.contention || {};
      tiles.push(
        tile(t.holds !== undefined ? t.holds : "–", "holds placed"),
        tile(percent(stats.conversion), "holds confirmed"),
        tile(percent(stats.expiry_rate), "holds expired"),
        tile(seconds(stats.hold_to_confirm_median_ms), "median hold → confirm"),
        tile(stats.units_left !== undefined ? stats.units_left : "–", "units left"),
        tile(stats.sellout_projection ? time(stats.sellout_projection) : "–", "sell-out projected"),
        tile(typeof contention.retries_per_write === "number" ? contention.retries_per_write.toFixed(2) : "–", "CAS retries per write"),
      );
    }
    element("tiles").replaceChildren(...tiles);
  }

  // The watch lists: customers refused at their limit, holding without
  // confirming, and bursts of holds.
  function renderWatchList() {
    const fraud = (state.stats && state.stats.fraud) || null;
    element("fraud-card").hidden = !fraud;
    if (!fraud) return;
    const lists = [
      ["Refused at their limit", fraud.customer_limit_refusals, (e) => e.count + " refusals"],
      ["Holds never confirmed", fraud.holds_without_confirm, (e) => e.count + " holds"],
      ["Bursts", fraud.bursts, (e) => e.holds + " holds in " + e.seconds + " s"],
    ];
    const nodes = [];
    for (const [title, entries, text] of lists) {
      const heading = document.createElement("h3");
      heading.className = "small";
      heading.textContent = title + (Array.isArray(entries) && entries.length ? "" : ": none");
      const list = document.createElement("ul");
      for (const entry of (Array.isArray(entries) ? entries : []).slice(0, watchRowsMax)) {
        const item = document.createElement("li");
        item.textContent = String(entry.customer_id) + ": " + text(entry);
        list.appendChild(item);
      }
      nodes.push(heading, list);
    }
    element("fraud").replaceChildren(...nodes);
  }

  function render() {
    const totals = renderTable();
    renderSectionsChart();
    renderTiles(totals);
    renderWatchList();
    if (state.stats && Array.isArray(state.stats.per_minute)) {
      C.minuteLines(element("minutes-chart"), state.stats.per_minute, seriesColors);
    }
    state.ready = true;
    document.body.dataset.ready = "true";
  }

  function onAvailability(body) {
    state.sections = Array.isArray(body.sections) ? body.sections : [];
    state.asOf = body.as_of;
    render();
  }

  // The token from the URL's #token=… (then dropped from the address bar)
  // or from this tab's storage.
  function organiserToken() {
    const fragment = new URLSearchParams(window.location.hash.slice(1)).get("token");
    if (fragment) {
      sessionStorage.setItem(tokenStorageKey, fragment);
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem(tokenStorageKey) || "";
  }

  function askForToken(refused) {
    element("token-form").hidden = false;
    element("stats-status").textContent = refused
      ? "Stats are organiser data: this token was refused; enter the organiser or admin token."
      : "Stats are organiser data: enter the organiser or admin token to see them.";
  }

  element("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(tokenStorageKey, element("organiser-token").value.trim());
    element("organiser-token").value = "";
    readStats();
  });

  async function readStats() {
    let answer;
    const token = organiserToken();
    const headers = token ? { Authorization: "Bearer " + token } : {};
    try {
      answer = await B.request("GET", "/events/" + encodeURIComponent(state.eventId) + "/stats", { headers });
    } catch (error) {
      element("stats-status").textContent = "Stats unreachable (" + error.message + "); retrying.";
      return;
    }
    const available = answer.status === 200 && answer.body !== null && typeof answer.body === "object";
    state.statsAvailable = available;
    element("token-form").hidden = answer.status !== 401;
    state.stats = available ? answer.body : null;
    element("stats-card").dataset.stats = available ? "available" : "unavailable";
    element("minutes-chart").hidden = !available;
    element("stats-status").textContent = available
      ? "As of " + time(answer.body.as_of) + "."
      : "Stats are unavailable on this server (GET /events/" + state.eventId + "/stats answered " + answer.status +
        "): the charts show availability only.";
    if (answer.status === 401) askForToken(Boolean(token));
    if (state.sections.length) render();
  }

  async function start() {
    if (!state.eventId) {
      showMode("error", "no event");
      return say("Name an event: /app/organiser?event=<event_id>.", true);
    }
    element("buyer-link").href = "/app/?event=" + encodeURIComponent(state.eventId);
    element("event-name").textContent = state.eventId + " · organiser";
    try {
      const answer = await B.request("GET", "/events/" + encodeURIComponent(state.eventId));
      if (answer.status !== 200 || !answer.body) {
        showMode("error", "no event");
        return say(answer.status === 404 ? "No event named " + state.eventId + "." : B.problemText(answer), true);
      }
      element("event-name").textContent = (answer.body.name || state.eventId) + " · organiser";
      document.title = (answer.body.name || state.eventId) + " · organiser";
    } catch (error) {
      showMode("error", "offline");
      return say("Cannot reach the server (" + error.message + "); reload to try again.", true);
    }
    await readStats();
    setInterval(readStats, statsIntervalMs);
    window.addEventListener("resize", () => { if (state.sections.length) render(); });
    state.live = new B.LiveAvailability(state.eventId, onAvailability, showMode);
    await state.live.start();
  }

  // A read-only view for scripts and the browser tests.
  window.organiser = {
    get ready() { return state.ready; },
    get statsAvailable() { return state.statsAvailable; },
    get liveMode() { return state.live ? state.live.mode : "starting"; },
    get sections() { return state.sections.map((s) => ({ id: s.id, sold: s.sold, held: s.held, available: s.available, capacity: s.capacity })); },
  };

  start();
})();
