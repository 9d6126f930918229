// Scale-out on a real redis-server (Debian package): serve --queue enqueues,
// worker hosts drain; output streams back through Redis; a worker killed
// mid-run answers WorkerLostError, or is retried once when idempotent.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { redisConnection } from "../../src/serve/queue.js";
import { QueueFront } from "../../src/serve/queue-front.js";
import { QueueWorker } from "../../src/serve/queue-worker.js";
import { call, parseEvents, startServer, TOKEN, type TestServer } from "./helpers.js";
import { localWorker as startWorker, startRedis, workerProcess, type Redis } from "./redis.js";

let redis: Redis;
let url: string;
let front: QueueFront;
let server: TestServer;

before(async () => {
  redis = await startRedis();
  url = redis.url;
  front = new QueueFront(redisConnection(url));
  await front.ready();
  server = await startServer({ remote: front });
});

after(async () => {
  await server.close();
  await front.close();
  await redis.stop();
});

const localWorker = () => startWorker(url);

test("a run goes through Redis to a worker host and its result comes back as JSON", async () => {
  const host = await localWorker();
  try {
    const answer = await call(server, "POST", "/v1/run", { code: "print('queued')\n6 * 7" });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.stdout, "queued\n");
    assert.equal(answer.body.value, 42);
  } finally {
    await host.close();
  }
});

test("a queued run's output streams back through Redis as server-sent events", async () => {
  const host = await localWorker();
  try {
    const answer = await call(server, "POST", "/v1/run", { code: "print('a', flush=True)\nprint('b')", stream: true });
    const events = parseEvents(answer.body);
    assert.equal(events.filter((e) => e.event === "stdout").map((e) => e.data.text).join(""), "a\nb\n");
    assert.equal(events.at(-1)!.event, "result");
  } finally {
    await host.close();
  }
});

/** Starts a run on a real `pyvisor worker` process, kills that process once the run has started, and lets a local worker take over. */
async function killWorkerMidRun(idempotent: boolean) {
  const doomed = await workerProcess(url);
  const response = fetch(`${server.url}/v1/run`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ code: "import time\nprint('started', flush=True)\ntime.sleep(3)\nprint('finished')", stream: true, idempotent }),
  });
  const reader = (await response).body!.getReader();
  let text = "";
  while (!text.includes("started")) text += Buffer.from((await reader.read()).value!).toString("utf8");
  await doomed.kill();
  const host = await localWorker();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString("utf8");
    }
    return parseEvents(text);
  } finally {
    await host.close();
  }
}

test("a worker killed mid-run: a run not marked idempotent answers WorkerLostError, never runs twice", async () => {
  const events = await killWorkerMidRun(false);
  assert.equal(events.filter((e) => e.event === "stdout").map((e) => e.data.text).join(""), "started\n");
  assert.equal(events.at(-1)!.event, "error");
  assert.equal(events.at(-1)!.data.error.type, "WorkerLostError");
});

test("a worker killed mid-run: an idempotent run is retried once on another worker and answers its result", async () => {
  const events = await killWorkerMidRun(true);
  const last = events.at(-1)!;
  assert.equal(last.event, "result", JSON.stringify(last.data));
  assert.equal(last.data.stdout, "started\nfinished\n");
});
