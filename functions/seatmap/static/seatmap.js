// The buyer's page: the seat map (one canvas), general-admission quantities,
// holds with an Idempotency-Key, their countdowns, and release.
"use strict";

(function () {
  const B = window.Booking;
  const L = window.SeatLayout;
  // A hold request is tried at most this often (network errors and 503s),
  // always with the same Idempotency-Key, so a retry can never hold twice.
  const holdAttemptsMax = 5;
  const retryDelayMsMax = 5000;
  // Holds listed and remembered per event (localStorage).
  const holdsKeptMax = 20;
  // An ended hold stays listed this long, so the buyer sees what happened.
  const endedShownMs = 15000;
  const tickMs = 250;
  const zoomLevels = [0.5, 0.75, 1, 1.5, 2, 3];
  // The canvas backing store is kept under this many pixels (browsers
  // refuse or slow down on bigger ones).
  const canvasPixelsMax = 64 * 1024 * 1024;
  const colors = { available: "#2e9d5b", selected: "#1f5fd1", mine: "#e08a00", taken: "#c4c7cc", text: "#1d2330" };

  const element = (id) => document.getElementById(id);
  const state = {
    eventId: B.eventIdFromLocation(),
    customerId: B.customerId(),
    definition: null,
    counts: new Map(), // section id -> availability section
    available: new Map(), // section id -> Set of available seat ids
    layout: null,
    geo: null,
    zoomIndex: 2,
    selection: { section: null, seats: [] },
    holds: [],
    live: null,
    readyMs: null,
    drawPending: false,
  };
  const storageKey = () => "booking.holds." + state.eventId;

  function say(text, bad) {
    const node = element("message");
    node.textContent = text;
    node.classList.toggle("bad", Boolean(bad));
  }

  function showMode(mode, text) {
    const node = element("live");
    node.dataset.mode = mode;
    node.textContent = text;
  }

  // ---- holds kept across reloads -------------------------------------------------

  function saveHolds() {
    const kept = state.holds.filter((h) => h.status === "held").slice(0, holdsKeptMax);
    try { localStorage.setItem(storageKey(), JSON.stringify(kept)); } catch (_) { /* not kept */ }
  }

  function loadHolds() {
    let stored = [];
    try { stored = JSON.parse(localStorage.getItem(storageKey()) || "[]"); } catch (_) { stored = []; }
    if (!Array.isArray(stored)) return;
    state.holds = stored.slice(0, holdsKeptMax).filter((h) => h && typeof h.hold_id === "string");
    // What the server says now wins over what was stored.
    for (const hold of state.holds) checkHold(hold);
  }

  async function checkHold(hold) {
    try {
      const answer = await B.request("GET", "/holds/" + encodeURIComponent(hold.hold_id));
      if (answer.status === 200 && answer.body) {
        hold.status = answer.body.status || hold.status;
        hold.expires_at = answer.body.expires_at || hold.expires_at;
      } else if (answer.status === 404) {
        hold.status = "gone";
      }
    } catch (_) { return; }
    if (hold.status !== "held") hold.endedAt = Date.now();
    saveHolds();
    renderHolds();
    scheduleDraw();
  }

  function remainingMs(hold) {
    return Date.parse(hold.expires_at) - (Date.now() + (hold.offsetMs || 0));
  }

  function mySeats() {
    const seats = new Set();
    for (const hold of state.holds) {
      if (hold.status !== "held" || remainingMs(hold) <= 0) continue;
      for (const seat of hold.seats || []) seats.add(hold.section + "\u0000" + seat);
    }
    return seats;
  }

  // A feed record about one of this buyer's holds: the payment side
  // confirmed it, or it ended elsewhere (another tab released it).
  const endedBy = { "hold-confirmed": "confirmed", "hold-released": "released", "hold-expired": "expired" };

  function onChange(record) {
    const hold = state.holds.find((h) => h.hold_id === record.hold_id);
    const status = endedBy[record.type];
    if (!hold || !status || hold.status === status || hold.status === "confirmed") return;
    hold.status = status;
    hold.endedAt = Date.now();
    saveHolds();
    renderHolds();
    scheduleDraw();
  }

  // ---- placing and releasing holds --------------------------------------------------

  async function postHold(request) {
    const key = B.randomHex(16);
    let answer = null;
    for (let attempt = 0; attempt < holdAttemptsMax; attempt++) {
      try {
        answer = await B.request("POST", "/events/" + encodeURIComponent(state.eventId) + "/holds", {
          body: request,
          headers: { "Idempotency-Key": key },
        });
      } catch (error) {
        say("Network error (" + error.message + "); retrying with the same key…", true);
        await B.sleep(Math.min(retryDelayMsMax, 250 * 2 ** attempt));
        continue;
      }
      if (answer.status !== 503) return answer;
      const retryAfterS = Number(answer.headers.get("retry-after")) || 1;
      say("Busy; retrying in " + retryAfterS + " s with the same key…");
      await B.sleep(Math.min(retryDelayMsMax, retryAfterS * 1000));
    }
    return answer;
  }

  async function placeHold(request, what) {
    setBusy(true);
    say("Holding " + what + "…");
    try {
      const answer = await postHold(request);
      if (!answer) return say("No answer after " + holdAttemptsMax + " tries; nothing was held twice. Try again.", true);
      handleHoldAnswer(answer, request);
    } finally {
      setBusy(false);
    }
  }

  function handleHoldAnswer(answer, request) {
    const slug = B.problemSlug(answer);
    if (answer.status === 201 && answer.body) {
      addHold(answer.body);
      if (request.seats) setSelection(null, []);
      say("Held " + describe(answer.body) + ".");
    } else if (answer.status === 409 && slug === "seats-unavailable") {
      const taken = (answer.body && answer.body.unavailable) || [];
      // Shown as taken at once; the re-read below confirms it.
      const free = state.available.get(request.section);
      for (const seat of taken) if (free) free.delete(seat);
      setSelection(request.section, state.selection.seats.filter((s) => !taken.includes(s)));
      say("Taken by someone else: " + taken.join(", ") + ".", true);
    } else if (answer.status === 409 && slug === "sold-out") {
      say("Sold out: " + (answer.body && answer.body.available !== undefined ? answer.body.available : 0) + " left in " + request.section + ".", true);
    } else {
      say(B.problemText(answer), true);
    }
    scheduleDraw();
    state.live.refresh();
  }

  function describe(hold) {
    const what = hold.seats && hold.seats.length ? hold.seats.join(", ") : hold.quantity + " × " + hold.section;
    return what + (hold.seats && hold.seats.length ? " (" + hold.section + ")" : "");
  }

  function addHold(body) {
    // The server's clock runs the countdown: the offset between its
    // created_at and this browser's clock is applied to expires_at.
    const createdMs = Date.parse(body.created_at);
    const hold = {
      hold_id: body.hold_id,
      section: body.section,
      seats: body.seats || [],
      quantity: body.quantity || (body.seats ? body.seats.length : 0),
      expires_at: body.expires_at,
      offsetMs: Number.isFinite(createdMs) ? createdMs - Date.now() : 0,
      status: body.status || "held",
    };
    state.holds = [hold].concat(state.holds.filter((h) => h.hold_id !== hold.hold_id)).slice(0, holdsKeptMax);
    saveHolds();
    renderHolds();
  }

  async function release(hold) {
    let answer = null;
    for (let attempt = 0; attempt < 3 && !answer; attempt++) {
      try {
        answer = await B.request("POST", "/holds/" + encodeURIComponent(hold.hold_id) + "/release");
      } catch (_) {
        await B.sleep(300 * (attempt + 1)); // release is repeatable: retrying is safe
      }
    }
    if (!answer) return say("Could not reach the server to release; try again.", true);
    if (answer.status === 200) { hold.status = "released"; say("Released " + describe(hold) + "."); }
    else if (B.problemSlug(answer) === "hold-confirmed") { hold.status = "confirmed"; say("Already confirmed: it is yours.", true); }
    else if (answer.status === 404) hold.status = "gone";
    else return say(B.problemText(answer), true);
    hold.endedAt = Date.now();
    saveHolds();
    renderHolds();
    scheduleDraw();
    state.live.refresh();
  }

  // ---- selection ----------------------------------------------------------------

  function setSelection(section, seats) {
    state.selection = { section: seats.length ? section : null, seats: seats.slice(0, B.limits.holdUnitsMax) };
    element("seats-input").value = state.selection.seats.join(", ");
    element("hold-seats").disabled = state.selection.seats.length === 0;
    element("hold-seats").textContent = state.selection.seats.length
      ? "Hold " + state.selection.seats.length + (state.selection.seats.length === 1 ? " seat" : " seats")
      : "Hold seats";
    scheduleDraw();
  }

  function seatState(section, seat) {
    if (state.mine && state.mine.has(section + "\u0000" + seat)) return "mine";
    if (state.selection.section === section && state.selection.seats.includes(seat)) return "selected";
    const free = state.available.get(section);
    return free && free.has(seat) ? "available" : "taken";
  }

  function toggleSeat(section, seat) {
    const current = seatState(section, seat);
    if (current === "mine") return say(seat + " is in one of your holds.");
    if (current === "taken") return say(seat + " is taken.", true);
    const seats = state.selection.section === section ? state.selection.seats.slice() : [];
    const at = seats.indexOf(seat);
    if (at >= 0) seats.splice(at, 1);
    else if (seats.length >= B.limits.holdUnitsMax) return say("At most " + B.limits.holdUnitsMax + " seats per hold.", true);
    else seats.push(seat);
    say("");
    setSelection(section, seats);
  }

  // Typed seat ids: each must be a seat of one seated section.
  function selectTyped(text) {
    const typed = text.split(/[\s,;]+/).filter(Boolean).slice(0, B.limits.holdUnitsMax + 1);
    if (typed.length === 0) return setSelection(null, []);
    if (typed.length > B.limits.holdUnitsMax) return say("At most " + B.limits.holdUnitsMax + " seats per hold.", true);
    const sections = state.layout ? state.layout.blocks.map((b) => b.section) : [];
    const section = sections.find((s) => typed.every((seat) => state.layout.index.has(s + "\u0000" + seat)));
    if (!section) return say("Not seats of one section: " + typed.join(", "), true);
    const taken = typed.filter((seat) => seatState(section, seat) !== "available" && seatState(section, seat) !== "selected");
    if (taken.length) say("Not available: " + taken.join(", "), true);
    setSelection(section, typed.filter((seat) => !taken.includes(seat)));
  }

  function setBusy(busy) {
    element("hold-seats").disabled = busy || state.selection.seats.length === 0;
    for (const button of document.querySelectorAll(".general-row button")) button.disabled = busy;
  }

  // ---- drawing ----------------------------------------------------------------

  function scheduleDraw() {
    if (state.drawPending) return;
    state.drawPending = true;
    requestAnimationFrame(() => { state.drawPending = false; draw(); });
  }

  // Sizes the canvas for the layout, the zoom and the screen's pixel ratio.
  function resize() {
    if (!state.layout) return;
    const canvas = element("map");
    const width = element("map-scroll").clientWidth || 800;
    state.geo = L.geometry(state.layout, L.cellSize(state.layout, width, zoomLevels[state.zoomIndex]));
    const area = state.geo.width * state.geo.height;
    const ratio = Math.max(0.25, Math.min(window.devicePixelRatio || 1, 2, Math.sqrt(canvasPixelsMax / area)));
    canvas.width = Math.ceil(state.geo.width * ratio);
    canvas.height = Math.ceil(state.geo.height * ratio);
    canvas.style.width = state.geo.width + "px";
    canvas.style.height = state.geo.height + "px";
    state.ratio = ratio;
    scheduleDraw();
  }

  function caption(section) {
    const counts = state.counts.get(section);
    return counts ? section + " · " + counts.available + " of " + counts.capacity + " available" : section;
  }

  function draw() {
    if (!state.layout || !state.geo) return;
    const context = element("map").getContext("2d");
    context.setTransform(state.ratio, 0, 0, state.ratio, 0, 0);
    state.mine = mySeats();
    L.draw(context, state.layout, state.geo, seatState, colors, caption);
  }

  // ---- side panel ----------------------------------------------------------------

  function renderCounts() {
    const rows = [];
    for (const [id, section] of state.counts) {
      const row = document.createElement("tr");
      row.dataset.section = id;
      for (const [field, value] of [["id", id], ["available", section.available], ["held", section.held], ["sold", section.sold]]) {
        const cell = document.createElement("td");
        cell.textContent = value;
        cell.dataset.field = field;
        row.appendChild(cell);
      }
      rows.push(row);
    }
    element("counts").replaceChildren(...rows);
  }

  // One row per general section: what is left, a quantity, a Hold button.
  function buildGeneralPanel() {
    const general = state.definition.sections.filter((s) => !s.seats);
    element("general-panel").hidden = general.length === 0;
    const rows = general.map((section) => {
      const row = document.createElement("div");
      row.className = "general-row";
      row.dataset.section = section.id;
      const label = document.createElement("span");
      label.textContent = section.id;
      const quantity = document.createElement("input");
      Object.assign(quantity, { type: "number", min: 1, max: B.limits.holdUnitsMax, value: 1 });
      quantity.setAttribute("aria-label", "Quantity for " + section.id);
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Hold";
      button.addEventListener("click", () => {
        const count = Math.floor(Number(quantity.value));
        if (!(count >= 1 && count <= B.limits.holdUnitsMax)) return say("Quantity is 1 to " + B.limits.holdUnitsMax + ".", true);
        placeHold({ section: section.id, quantity: count, customer_id: state.customerId }, count + " × " + section.id);
      });
      row.append(label, quantity, button);
      return row;
    });
    element("general").replaceChildren(...rows);
  }

  function updateGeneralPanel() {
    for (const row of element("general").children) {
      const counts = state.counts.get(row.dataset.section);
      if (counts) row.firstChild.textContent = row.dataset.section + " · " + counts.available + " left";
    }
  }

  function renderHolds() {
    const items = state.holds.map((hold) => {
      const item = document.createElement("li");
      item.dataset.holdId = hold.hold_id;
      item.dataset.status = hold.status;
      const what = document.createElement("span");
      what.className = "what";
      what.textContent = describe(hold);
      const countdown = document.createElement("span");
      countdown.className = "countdown";
      item.append(what, countdown);
      if (hold.status === "held") {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        button.textContent = "Release";
        button.addEventListener("click", () => release(hold));
        item.append(button);
      }
      return item;
    });
    element("holds").replaceChildren(...items);
    tick();
  }

  // Every tick: countdowns, and holds that just ran out.
  function tick() {
    let changed = false;
    for (const item of element("holds").children) {
      const hold = state.holds.find((h) => h.hold_id === item.dataset.holdId);
      if (!hold) continue;
      const countdown = item.querySelector(".countdown");
      if (hold.status === "held") {
        const leftMs = remainingMs(hold);
        if (leftMs > 0) {
          const seconds = Math.ceil(leftMs / 1000);
          countdown.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
          continue;
        }
        hold.status = "expired";
        hold.endedAt = Date.now();
        changed = true;
        checkHold(hold); // the server's word: it may have been confirmed
      }
      countdown.textContent = hold.status;
    }
    const before = state.holds.length;
    state.holds = state.holds.filter((h) => h.status === "held" || Date.now() - (h.endedAt || 0) < endedShownMs);
    if (changed || state.holds.length !== before) {
      saveHolds();
      renderHolds(); // calls tick again, which then finds nothing to change
      scheduleDraw();
      state.live.refresh();
    }
  }

  // ---- availability --------------------------------------------------------------

  function onAvailability(body) {
    state.counts = new Map();
    for (const section of body.sections || []) {
      state.counts.set(section.id, section);
      if (Array.isArray(section.available_seats)) state.available.set(section.id, new Set(section.available_seats));
    }
    renderCounts();
    updateGeneralPanel();
    draw();
    if (state.readyMs === null) {
      state.readyMs = Math.round(performance.now());
      document.body.dataset.ready = "true";
    }
  }

  // ---- input ----------------------------------------------------------------------

  function pointerSeat(event) {
    if (!state.layout || !state.geo) return null;
    const box = element("map").getBoundingClientRect();
    return L.hitTest(state.layout, state.geo, event.clientX - box.left, event.clientY - box.top);
  }

  function wireInput() {
    const canvas = element("map");
    canvas.addEventListener("click", (event) => {
      const hit = pointerSeat(event);
      if (!hit) return;
      toggleSeat(hit.section, hit.seat);
      element("hover").textContent = hit.seat + " (" + hit.section + "): " + seatState(hit.section, hit.seat);
    });
    let hoverPending = null;
    canvas.addEventListener("mousemove", (event) => {
      if (hoverPending === null) requestAnimationFrame(() => {
        const hit = pointerSeat(hoverPending);
        hoverPending = null;
        element("hover").textContent = hit ? hit.seat + " (" + hit.section + "): " + seatState(hit.section, hit.seat) : "\u00a0";
      });
      hoverPending = event;
    });
    element("seats-input").addEventListener("change", (event) => selectTyped(event.target.value));
    element("clear-seats").addEventListener("click", () => { setSelection(null, []); say(""); });
    element("hold-seats").addEventListener("click", () => {
      const { section, seats } = state.selection;
      if (seats.length) placeHold({ section, seats, customer_id: state.customerId }, seats.join(", "));
    });
    const zoom = (step) => {
      state.zoomIndex = Math.min(zoomLevels.length - 1, Math.max(0, state.zoomIndex + step));
      resize();
    };
    element("zoom-in").addEventListener("click", () => zoom(1));
    element("zoom-out").addEventListener("click", () => zoom(-1));
    let resizePending = false;
    window.addEventListener("resize", () => {
      if (!resizePending) { resizePending = true; requestAnimationFrame(() => { resizePending = false; resize(); }); }
    });
    document.addEventListener("visibilitychange", () => { if (!document.hidden && state.live) state.live.refresh(); });
  }

  // ---- start ---------------------------------------------------------------------

  async function start() {
    element("customer").textContent = state.customerId;
    if (!state.eventId) {
      showMode("error", "no event");
      return say("Name an event: /app/?event=<event_id> or /app/events/<event_id>.", true);
    }
    element("organiser-link").href = "/app/organiser?event=" + encodeURIComponent(state.eventId);
    let answer;
    try {
      answer = await B.request("GET", "/events/" + encodeURIComponent(state.eventId));
    } catch (error) {
      showMode("error", "offline");
      return say("Cannot reach the server (" + error.message + "); reload to try again.", true);
    }
    if (answer.status !== 200 || !answer.body || !Array.isArray(answer.body.sections)) {
      showMode("error", "no event");
      return say(answer.status === 404 ? "No event named " + state.eventId + "." : B.problemText(answer), true);
    }
    state.definition = answer.body;
    element("event-name").textContent = state.definition.name || state.eventId;
    document.title = (state.definition.name || state.eventId) + " · seats";
    const seated = state.definition.sections.filter((s) => Array.isArray(s.seats));
    state.layout = L.buildLayout(seated);
    element("map-scroll").hidden = seated.length === 0;
    buildGeneralPanel();
    wireInput();
    resize();
    loadHolds();
    renderHolds();
    setInterval(tick, tickMs);
    state.live = new B.LiveAvailability(state.eventId, onAvailability, showMode, onChange);
    await state.live.start();
  }

  // A read-only view of the page for scripts and the browser tests: where a
  // seat is drawn, the colour drawn there, and how the page is kept live.
  window.seatmap = {
    get readyMs() { return state.readyMs; },
    get liveMode() { return state.live ? state.live.mode : "starting"; },
    get holds() { return state.holds.map((h) => Object.assign({}, h)); },
    get selection() { return Object.assign({}, state.selection); },
    seatState,
    // The seat's centre in viewport pixels, scrolled into view first.
    seatCenter(section, seat) {
      const rect = state.layout && state.geo ? L.seatRect(state.layout, state.geo, section, seat) : null;
      if (!rect) return null;
      const scroller = element("map-scroll");
      scroller.scrollTop = Math.max(0, rect.y - scroller.clientHeight / 2);
      scroller.scrollLeft = Math.max(0, rect.x - scroller.clientWidth / 2);
      const box = element("map").getBoundingClientRect();
      return { x: box.left + rect.x + rect.size / 2, y: box.top + rect.y + rect.size / 2 };
    },
    // The colour name drawn at the seat's centre, read back from the canvas.
    drawnState(section, seat) {
      const rect = state.layout && state.geo ? L.seatRect(state.layout, state.geo, section, seat) : null;
      if (!rect) return null;
      const x = Math.floor((rect.x + rect.size / 2) * state.ratio);
      const y = Math.floor((rect.y + rect.size / 2) * state.ratio);
      const [r, g, b] = element("map").getContext("2d").getImageData(x, y, 1, 1).data;
      const hex = "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
      return Object.keys(colors).find((name) => colors[name] === hex) || hex;
    },
  };

  start();
})();
