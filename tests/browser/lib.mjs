// What the browser tests share: the app under test (from the environment
// scripts/browser-test sets), API calls, Chromium, and page helpers.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(name + " is not set: run scripts/browser-test");
  return value;
}

export const base = required("BOOKING_BASE_URL").replace(/\/$/, "");
const adminToken = required("BOOKING_ADMIN_TOKEN");
const confirmToken = required("BOOKING_CONFIRM_TOKEN");
export const runtime = process.env.BOOKING_RUNTIME_LABEL || "app";
const screenshotDir = process.env.BOOKING_SCREENSHOT_DIR || "";
// Longest wait for anything a test expects to happen.
const waitMsMax = 20000;

export function uniqueId(prefix) {
  return prefix + "-" + Date.now().toString(36) + "-" + randomBytes(3).toString("hex");
}

// One API call: {status, body, headers}.
export async function api(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(base + path, init);
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  return { status: response.status, body: parsed, headers: response.headers };
}

// The organiser's credential for organiser data (GET /stats): the admin token
// (the app takes the organiser or the admin token there).
export const organiserHeaders = { authorization: "Bearer " + adminToken };
export const organiserFragment = "#token=" + encodeURIComponent(adminToken);

export async function createEvent(definition) {
  const id = uniqueId(definition.prefix || "page");
  const { prefix, ...body } = definition;
  const answer = await api("PUT", "/events/" + id, { body, headers: { authorization: "Bearer " + adminToken } });
  assert.equal(answer.status, 201, "creating " + id + ": " + JSON.stringify(answer.body));
  return id;
}

export async function availability(eventId) {
  const answer = await api("GET", "/events/" + eventId + "/availability");
  assert.equal(answer.status, 200);
  return new Map(answer.body.sections.map((section) => [section.id, section]));
}

// A hold placed by someone other than the page (another customer).
export async function holdByApi(eventId, request) {
  const answer = await api("POST", "/events/" + eventId + "/holds", {
    body: request,
    headers: { "idempotency-key": "browser-test-" + randomBytes(12).toString("hex") },
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

// What the payment side does once paid.
export async function confirmByApi(holdId) {
  const answer = await api("POST", "/holds/" + encodeURIComponent(holdId) + "/confirm", {
    body: { payment_ref: "pay-" + randomBytes(6).toString("hex") },
    headers: { authorization: "Bearer " + confirmToken },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

export function seatIds(rows, perRow, separator = "-") {
  const ids = [];
  for (const row of rows) for (let n = 1; n <= perRow; n++) ids.push(row + separator + n);
  return ids;
}

// Headless Debian Chromium. The flags keep it off the network this machine
// does not have (background services) and let it run as root.
export async function launch() {
  return chromium.launch({
    executablePath: required("CHROMIUM_BIN"),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

// A fresh browser profile (its own localStorage, so its own customer id)
// on `path`, once the page has drawn its first availability.
export async function openPage(browser, path, viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(base + path);
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: waitMsMax });
  page.errors = errors;
  return page;
}

export async function clickSeat(page, section, seat) {
  const centre = await page.evaluate(([s, t]) => window.seatmap.seatCenter(s, t), [section, seat]);
  assert.ok(centre, seat + " is drawn");
  await page.mouse.click(centre.x, centre.y);
}

// Waits until the canvas shows `seat` in `state` (read back from its pixels);
// returns the milliseconds waited.
export async function waitDrawn(page, section, seat, state, timeoutMs = waitMsMax) {
  const started = Date.now();
  await page.waitForFunction(([s, t, want]) => window.seatmap.drawnState(s, t) === want, [section, seat, state],
    { timeout: timeoutMs, polling: 20 });
  return Date.now() - started;
}

export async function drawn(page, section, seat) {
  return page.evaluate(([s, t]) => window.seatmap.drawnState(s, t), [section, seat]);
}

// Clicks `selector` and resolves to the POST /holds answer it causes, with
// the time (ms since the epoch) the test saw it arrive.
export async function holdAnswer(page, selector) {
  const seen = {};
  const response = page.waitForResponse((r) => {
    const matches = r.request().method() === "POST" && /\/holds$/.test(new URL(r.url()).pathname);
    if (matches) seen.at = Date.now();
    return matches;
  }, { timeout: waitMsMax });
  await page.click(selector);
  const answer = await response;
  return { status: answer.status(), body: await answer.json(), at: seen.at };
}

export async function screenshot(page, name) {
  if (!screenshotDir) return;
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, name), fullPage: false });
}

// How the server keeps pages live: "feed" where GET /changes answers, else "poll".
export async function expectedLiveMode(eventId) {
  const answer = await api("GET", "/events/" + eventId + "/changes?limit=1");
  return answer.status === 200 ? "feed" : "poll";
}
