// With --queue, an accepted run is Redis's, not the front end's: a front end
// killed with SIGKILL loses none (a new one answers each by its id), and a
// client that goes away cancels its run, whether it still waits on the queue
// or runs on a worker.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { redisConnection } from "../../src/serve/queue.js";
import { QueueFront } from "../../src/serve/queue-front.js";
import { call, startServer, TOKEN, type TestServer } from "./helpers.js";
import { localWorker, serveProcess, startRedis, type Redis } from "./redis.js";

let redis: Redis;
let front: QueueFront;
let server: TestServer;

before(async () => {
  redis = await startRedis();
  front = new QueueFront(redisConnection(redis.url));
  await front.ready();
  server = await startServer({ remote: front });
});

after(async () => {
  await server.close();
  await front.close();
  await redis.stop();
});

const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

async function get(base: string, id: string): Promise<any> {
  const response = await fetch(`${base}/v1/runs/${id}`, { headers });
  assert.equal(response.status, 200, `GET /v1/runs/${id}`);
  return response.json();
}

/** Polls a run's state until it is one of `states`. */
async function until(base: string, id: string, states: string[]): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const state = await get(base, id);
    if (states.includes(state.status)) return state;
    await sleep(100);
  }
  throw new Error(`run ${id} never reached ${states.join(" or ")}`);
}

test("a front end killed with SIGKILL after accepting runs loses none: a new front end answers every accepted run's result by its id", async () => {
  const first = await serveProcess(redis.url);
  const accepted: Array<[id: string, stdout: string]> = [];
  try {
    // No worker yet: the runs wait in Redis, accepted.
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${first.name}/v1/run`, { method: "POST", headers, body: JSON.stringify({ code: `print(${i} * 11)`, async: true }) });
      assert.equal(response.status, 202);
      accepted.push([((await response.json()) as { id: string }).id, `${i * 11}\n`]);
    }
    // A streamed run: its id comes in a header before any event.
    const streamed = await fetch(`${first.name}/v1/run`, { method: "POST", headers, body: JSON.stringify({ code: "print('streamed')", stream: true }) });
    const streamedId = streamed.headers.get("x-run-id");
    assert.ok(streamedId);
    accepted.push([streamedId, "streamed\n"]);
    const reader = streamed.body!.getReader();
    await first.kill();
    // Its client sees the answer end (or the connection reset) with no result event: it asks another front end by the id.
    let text = "";
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += Buffer.from(chunk.value).toString("utf8");
    } catch { /* reset */ }
    assert.doesNotMatch(text, /event: result/);
  } finally {
    await first.kill();
  }
  const second = await serveProcess(redis.url);
  const host = await localWorker(redis.url);
  try {
    for (const [id, stdout] of accepted) {
      const state = await until(second.name, id, ["done", "failed", "cancelled"]);
      assert.equal(state.status, "done", JSON.stringify(state));
      assert.equal(state.result.stdout, stdout);
    }
  } finally {
    await host.close();
    await second.kill();
  }
});

/** Starts a streamed run and answers its id and a way to hang up (after `seen` appears in its output, if given). */
async function streamedRun(code: string, seen?: string): Promise<{ id: string; hangUp: () => void }> {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/v1/run`, { method: "POST", headers, body: JSON.stringify({ code, stream: true }), signal: controller.signal });
  const id = response.headers.get("x-run-id")!;
  const reader = response.body!.getReader();
  let text = "";
  while (seen !== undefined && !text.includes(seen)) text += Buffer.from((await reader.read()).value!).toString("utf8");
  return { id, hangUp: () => controller.abort() };
}

test("a queued run whose client goes away before it starts is taken off the queue and never runs", async () => {
  // No worker: the run waits.
  const run = await streamedRun("print('should not run')");
  assert.equal((await get(server.url, run.id)).status, "queued");
  run.hangUp();
  const state = await until(server.url, run.id, ["cancelled"]);
  assert.equal(state.result, undefined);
  const host = await localWorker(redis.url);
  try {
    // A run queued after it is answered: the worker has drained the queue, and the cancelled run was not on it.
    assert.equal((await call(server, "POST", "/v1/run", { code: "'after'" })).body.value, "after");
    const later = await get(server.url, run.id);
    assert.equal(later.status, "cancelled");
    assert.equal(later.result, undefined, "it never ran");
    // The worker host ran one run only: the one after.
    assert.match(await host.service.metrics.text(), /^pyvisor_runs_total\{outcome="ok"\} 1$/m);
  } finally {
    await host.close();
  }
});

test("a queued run whose client goes away while it runs is interrupted on its worker (CancelledError), not run to its end", async () => {
  const host = await localWorker(redis.url);
  try {
    const run = await streamedRun("import time\nprint('started', flush=True)\ntime.sleep(120)\nprint('finished')", "started");
    run.hangUp();
    const state = await until(server.url, run.id, ["done", "cancelled", "failed"]);
    assert.equal(state.status, "cancelled", JSON.stringify(state));
    assert.equal(state.result.error.type, "CancelledError");
    assert.equal(state.result.stdout, "started\n");
    assert.ok(state.result.stats.wallMs < 60_000, `interrupted, not slept out (${state.result.stats.wallMs} ms)`);
  } finally {
    await host.close();
  }
});
