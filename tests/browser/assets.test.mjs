// The seatmap component over HTTP on the running app: its pages and files
// with their types and caching headers, and problem+json for anything else.
import assert from "node:assert/strict";
import { test } from "node:test";
import { api, base } from "./lib.mjs";

test("the pages are HTML with a content security policy, revalidated on every use", async () => {
  for (const path of ["/app", "/app/", "/app/events/gig-2026", "/app/organiser?event=gig-2026", "/app/events/gig-2026/organiser"]) {
    const answer = await fetch(base + path);
    assert.equal(answer.status, 200, path);
    assert.equal(answer.headers.get("content-type"), "text/html; charset=utf-8", path);
    assert.equal(answer.headers.get("cache-control"), "no-cache", path);
    assert.match(answer.headers.get("content-security-policy"), /default-src 'self'/, path);
    const again = await fetch(base + path, { headers: { "if-none-match": answer.headers.get("etag") } });
    assert.equal(again.status, 304, path);
  }
});

test("every file a page names is served with its type; the versioned URL is immutable", async () => {
  const html = await (await fetch(base + "/app")).text();
  const urls = Array.from(html.matchAll(/"(\/app\/assets\/[^"]+)"/g), (m) => m[1]);
  assert.ok(urls.length >= 4, "the page names its files");
  const types = { js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8", svg: "image/svg+xml" };
  for (const url of urls) {
    const answer = await fetch(base + url);
    assert.equal(answer.status, 200, url);
    const extension = new URL(base + url).pathname.split(".").pop();
    assert.equal(answer.headers.get("content-type"), types[extension], url);
    assert.equal(answer.headers.get("cache-control"), "public, max-age=31536000, immutable", url);
    assert.equal(answer.headers.get("x-content-type-options"), "nosniff", url);
    const unversioned = await fetch(base + url.split("?")[0]);
    assert.equal(unversioned.headers.get("cache-control"), "no-cache", url);
  }
});

test("unknown paths under /app and other methods are problem documents", async () => {
  for (const path of ["/app/assets/nope.js", "/app/nope", "/app/assets/index.html", "/app/events/x/y"]) {
    const answer = await api("GET", path);
    assert.equal(answer.status, 404, path);
    assert.equal(answer.headers.get("content-type"), "application/problem+json", path);
    assert.match(answer.body.type, /\/not-found$/, path);
  }
  const post = await api("POST", "/app", { body: {} });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  assert.equal(post.headers.get("content-type"), "application/problem+json");
  const head = await fetch(base + "/app/assets/api.js", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
});

test("the API's own routes are not shadowed by the page's", async () => {
  const answer = await api("GET", "/events/no-such-event-for-the-page");
  assert.equal(answer.status, 404);
  assert.match(answer.body.type, /\/not-found$/);
  const unknown = await api("GET", "/application");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.headers.get("content-type"), "application/problem+json");
});
