// The pages against the change feed and the stats document as the contract
// describes them (GET /events/:id/changes, GET /events/:id/stats), answered
// inside the browser by Playwright where the server does not have them yet:
// a feed record makes the page re-read availability at once, and the
// organiser view shows the stats it is given.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, availability, base, confirmByApi, createEvent, holdByApi, launch, organiserHeaders, screenshot, seatIds, waitDrawn } from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function readyPage(context, path) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(base + path);
  await page.waitForFunction(() => document.body.dataset.ready === "true");
  page.errors = errors;
  return page;
}

test("a record on the change feed makes the page re-read availability at once", async () => {
  const eventId = await createEvent({ prefix: "feed", name: "Feed", sections: [{ id: "A", seats: seatIds(["A"], 12) }] });
  const context = await browser.newContext();
  let openStream;
  const streamAsked = new Promise((resolve) => { openStream = resolve; });
  let deliver;
  const record = new Promise((resolve) => { deliver = resolve; });
  await context.route(/\/events\/[^/]+\/changes/, async (route) => {
    if ((route.request().headers().accept || "").includes("text/event-stream")) {
      openStream(route.request().url());
      const change = await record;
      // retry: a long reconnect delay, so this one stream is all the test sees.
      await route.fulfill({ status: 200, contentType: "text/event-stream", body: "retry: 600000\n\nid: c2\nevent: change\ndata: " + JSON.stringify(change) + "\n\n" });
    } else {
      await route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ event_id: eventId, changes: [], next: "c1" }) });
    }
  });
  const reads = [];
  context.on("request", (request) => { if (request.url().endsWith("/availability")) reads.push(Date.now()); });
  // The slowest poll the page allows (10 s): a re-read within a second
  // comes from the feed (the page's safety poll with a feed is every 5 s).
  const page = await readyPage(context, "/app/?poll_ms=10000&event=" + eventId);
  assert.match(await streamAsked, /\/changes\?limit=1000&after=c1$/, "streams from the cursor the catch-up ended at");
  assert.equal(await page.evaluate(() => window.seatmap.liveMode), "feed");

  const hold = await holdByApi(eventId, { section: "A", seats: ["A-4"] });
  const sentAt = Date.now();
  deliver({ cursor: "c2", order: "2", document: "s/A/0", seq: 2, type: "hold-placed", at: new Date().toISOString(),
    hold_id: hold.hold_id, section: "A", quantity: 1, seats: ["A-4"] });
  await waitDrawn(page, "A", "A-4", "taken", 2000);
  const takenMs = Date.now() - sentAt;
  const readsAfter = reads.filter((at) => at >= sentAt);
  assert.ok(readsAfter.length >= 1 && readsAfter[0] - sentAt < 1000, "a re-read right after the record");
  console.log(`feed record to seat drawn taken: ${takenMs} ms`);
  assert.equal((await availability(eventId)).get("A").held, 1);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("without a feed the page polls, and says so", async () => {
  const eventId = await createEvent({ prefix: "poll", name: "Poll", sections: [{ id: "A", seats: seatIds(["A"], 4) }] });
  const context = await browser.newContext();
  await context.route(/\/events\/[^/]+\/changes/, (route) =>
    route.fulfill({ status: 404, contentType: "application/problem+json", body: JSON.stringify({ type: "x/not-found", status: 404 }) }));
  const page = await readyPage(context, "/app/?event=" + eventId);
  await page.waitForFunction(() => window.seatmap.liveMode === "poll");
  assert.match(await page.textContent("#live"), /polling every 0\.7 s/);
  await holdByApi(eventId, { section: "A", seats: ["A-2"] });
  await waitDrawn(page, "A", "A-2", "taken", 2000);
  await context.close();
});

test("the organiser view shows the stats document: figures, minutes and the watch list", async () => {
  const eventId = await createEvent({ prefix: "stats", name: "Stats", sections: [{ id: "floor", capacity: 100 }] });
  // 25 sold and 15 held, so the inventory agrees with the document's 60 units left.
  for (const [quantity, confirm] of [[10, true], [10, true], [5, true], [10, false], [5, false]]) {
    const hold = await holdByApi(eventId, { section: "floor", quantity, customer_id: "c-" + quantity });
    if (confirm) await confirmByApi(hold.hold_id);
  }
  const stats = {
    event_id: eventId, as_of: "2026-05-01T20:03:00Z",
    totals: { holds: 40, confirmations: 25, releases: 5, expiries: 8 },
    per_minute: [
      { minute: "2026-05-01T20:00:00Z", holds: 10, confirmations: 4, releases: 1, expiries: 0 },
      { minute: "2026-05-01T20:01:00Z", holds: 20, confirmations: 12, releases: 2, expiries: 5 },
      { minute: "2026-05-01T20:02:00Z", holds: 10, confirmations: 9, releases: 2, expiries: 3 },
    ],
    conversion: 0.625, expiry_rate: 0.2, hold_to_confirm_median_ms: 41000, units_left: 60,
    sellout_projection: "2026-05-01T20:30:00Z",
    contention: { writes: 80, cas_retries: 12, retries_per_write: 0.15 },
    fraud: { customer_limit_refusals: [{ customer_id: "greedy-1", count: 7 }], holds_without_confirm: [], bursts: [{ customer_id: "bot-9", holds: 30, seconds: 10 }] },
  };
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  await context.route(/\/events\/[^/]+\/stats$/, (route) => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(stats) }));
  const page = await readyPage(context, "/app/organiser?event=" + eventId);
  await page.waitForFunction(() => window.organiser.statsAvailable === true);
  const tiles = await page.$$eval("#tiles .tile", (nodes) => nodes.map((n) => n.textContent));
  for (const expected of ["62.5 %holds confirmed", "20.0 %holds expired", "41.0 smedian hold → confirm", "60units left", "0.15CAS retries per write", "40holds placed"]) {
    assert.ok(tiles.includes(expected), expected + " in " + JSON.stringify(tiles));
  }
  assert.match(await page.textContent("#fraud"), /greedy-1: 7 refusals/);
  assert.match(await page.textContent("#fraud"), /bot-9: 30 holds in 10 s/);
  assert.equal(await page.isVisible("#minutes-chart"), true);
  // The holds line is drawn: some pixel of the chart has its colour.
  const drawnHolds = await page.evaluate(() => {
    const canvas = document.getElementById("minutes-chart");
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) if (data[i] === 0x1f && data[i + 1] === 0x5f && data[i + 2] === 0xd1) return true;
    return false;
  });
  assert.ok(drawnHolds, "the holds line is on the chart");
  await screenshot(page, "organiser-with-stats.png");
  // A document with fields missing is still shown.
  await context.unroute(/\/events\/[^/]+\/stats$/);
  await context.route(/\/events\/[^/]+\/stats$/, (route) => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ event_id: eventId }) }));
  await page.waitForFunction(() => Array.from(document.querySelectorAll("#tiles .tile")).some((t) => t.textContent === "–holds confirmed"), null, { timeout: 10000 });
  assert.deepEqual(page.errors, []);
  const real = await api("GET", "/events/" + eventId + "/stats", { headers: organiserHeaders });
  assert.ok([200, 404].includes(real.status));
  await context.close();
});

test("where GET /stats answers 404 the organiser view says so and charts availability only", async () => {
  const eventId = await createEvent({ prefix: "nostats", name: "No stats", sections: [{ id: "floor", capacity: 30 }] });
  await confirmByApi((await holdByApi(eventId, { section: "floor", quantity: 4 })).hold_id);
  const context = await browser.newContext();
  await context.route(/\/events\/[^/]+\/stats$/, (route) =>
    route.fulfill({ status: 404, contentType: "application/problem+json", body: JSON.stringify({ type: "x/not-found", status: 404 }) }));
  const page = await readyPage(context, "/app/organiser?event=" + eventId);
  await page.waitForFunction(() => window.organiser.statsAvailable === false);
  assert.equal(await page.getAttribute("#stats-card", "data-stats"), "unavailable");
  assert.match(await page.textContent("#stats-status"), /Stats are unavailable on this server .*answered 404/);
  assert.equal(await page.isVisible("#minutes-chart"), false);
  assert.equal(await page.isVisible("#sections-chart"), true);
  await page.waitForFunction(() => window.organiser.sections.length === 1);
  assert.deepEqual(await page.evaluate(() => window.organiser.sections), [{ id: "floor", sold: 4, held: 0, available: 26, capacity: 30 }]);
  const tiles = await page.$$eval("#tiles .tile span", (nodes) => nodes.map((n) => n.textContent));
  assert.deepEqual(tiles, ["sold", "held now", "available", "sold through"]);
  assert.deepEqual(page.errors, []);
  await context.close();
});
