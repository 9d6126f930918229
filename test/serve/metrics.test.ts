// GET /metrics: Prometheus text with runs by outcome, the latency histogram,
// queue depth, pool size, sessions and refusals.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { call, startServer, type TestServer } from "./helpers.js";

let server: TestServer;
before(async () => { server = await startServer({ quotas: { concurrentRuns: 4, sessions: 0, cpuSecondsPerMinute: 120 } }); });
after(async () => { await server.close(); });

/** A sample's value in Prometheus text ("name{labels} value"), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("runs are counted by outcome (ok, error, limit) and each is observed in the latency histogram", async () => {
  await call(server, "POST", "/v1/run", { code: "1" });
  await call(server, "POST", "/v1/run", { code: "1/0" });
  await call(server, "POST", "/v1/run", { code: "while 1: pass", timeout: 200 });
  const answer = await call(server, "GET", "/metrics");
  assert.equal(answer.status, 200);
  assert.match(answer.headers.get("content-type") ?? "", /^text\/plain/);
  const text: string = answer.body;
  assert.equal(sample(text, 'pyvisor_runs_total{outcome="ok"}'), 1);
  assert.equal(sample(text, 'pyvisor_runs_total{outcome="error"}'), 1);
  assert.equal(sample(text, 'pyvisor_runs_total{outcome="limit"}'), 1);
  assert.equal(sample(text, "pyvisor_run_duration_seconds_count"), 3);
  assert.equal(sample(text, 'pyvisor_run_duration_seconds_bucket{le="+Inf"}'), 3);
});

test("the pool's size, its queue depth and open sessions are reported", async () => {
  const text: string = (await call(server, "GET", "/metrics")).body;
  assert.equal(sample(text, "pyvisor_pool_size"), 1);
  assert.equal(sample(text, "pyvisor_queue_depth"), 0);
  assert.equal(sample(text, "pyvisor_sessions"), 0);
});

test("a quota refusal is counted by its quota", async () => {
  assert.equal((await call(server, "POST", "/v1/sessions", {})).status, 429);
  const text: string = (await call(server, "GET", "/metrics")).body;
  assert.equal(sample(text, 'pyvisor_requests_refused_total{reason="sessions"}'), 1);
});

test("/metrics needs a token", async () => {
  assert.equal((await call(server, "GET", "/metrics", undefined, { token: null })).status, 401);
});
