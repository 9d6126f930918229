// Per-token quotas over HTTP: concurrent runs, sessions and CPU seconds per
// minute answer 429 with Retry-After; another token is not affected.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Quotas } from "../../src/serve/quotas.js";
import { ServiceError } from "../../src/serve/errors.js";
import { call, OTHER_TOKEN, startServer } from "./helpers.js";

test("a run beyond the token's concurrent-run quota answers 429 with Retry-After; another token still runs", async () => {
  const server = await startServer({ quotas: { concurrentRuns: 1, sessions: 8, cpuSecondsPerMinute: 120 } });
  try {
    const long = call(server, "POST", "/v1/run", { code: "import time\ntime.sleep(2)\n1" });
    // Wait until the long run holds its slot.
    while (server.service.pool.pendingRuns === 0) await new Promise((r) => setTimeout(r, 20));
    const refused = await call(server, "POST", "/v1/run", { code: "1" });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.field, "concurrentRuns");
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assert.equal((await call(server, "POST", "/v1/run", { code: "2" }, { token: OTHER_TOKEN })).body.value, 2);
    assert.equal((await long).body.value, 1);
    assert.equal((await call(server, "POST", "/v1/run", { code: "3" })).body.value, 3, "the slot is free again");
  } finally {
    await server.close();
  }
});

test("a session beyond the token's session quota answers 429 with Retry-After", async () => {
  const server = await startServer({ quotas: { concurrentRuns: 4, sessions: 1, cpuSecondsPerMinute: 120 } });
  try {
    assert.equal((await call(server, "POST", "/v1/sessions", {})).status, 201);
    const refused = await call(server, "POST", "/v1/sessions", {});
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.field, "sessions");
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
  } finally {
    await server.close();
  }
});

test("a run is capped by the CPU left in the token's minute, and once it is spent the next run answers 429", async () => {
  const server = await startServer({ quotas: { concurrentRuns: 4, sessions: 8, cpuSecondsPerMinute: 0.2 } });
  try {
    const capped = await call(server, "POST", "/v1/run", { code: "while True: pass", timeout: 30_000 });
    assert.equal(capped.status, 200);
    assert.equal(capped.body.error.limit, "cpuTime");
    const refused = await call(server, "POST", "/v1/run", { code: "1" });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.field, "cpuSecondsPerMinute");
    const retry = Number(refused.headers.get("retry-after"));
    assert.ok(retry >= 1 && retry <= 60, String(retry));
  } finally {
    await server.close();
  }
});

test("CPU spent leaves the window after 60 s: the Retry-After is when enough of it has left", () => {
  let now = 1_000_000;
  const quotas = new Quotas({ concurrentRuns: 4, sessions: 1, cpuSecondsPerMinute: 1 }, () => now);
  quotas.admit("a").end(600);
  now += 20_000;
  quotas.admit("a").end(600);
  now += 1_000;
  const refusal = (() => { try { quotas.admit("a"); } catch (e) { return e as ServiceError; } return null; })();
  assert.ok(refusal instanceof ServiceError);
  assert.equal(refusal.retryAfterSec, 39, "the first 600 ms leave the window 60 s after they were spent");
  now += 39_000;
  assert.equal(quotas.admit("a").cpuBudgetMs, 400);
});

test("a ticket ended twice frees its slot once", () => {
  const quotas = new Quotas({ concurrentRuns: 1, sessions: 1, cpuSecondsPerMinute: 100 });
  const ticket = quotas.admit("a");
  ticket.end(0);
  ticket.end(0);
  quotas.admit("a");
  assert.throws(() => quotas.admit("a"), (e: ServiceError) => e.status === 429);
});
