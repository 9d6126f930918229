// Scale-out on a real redis-server (Debian package): serve --queue enqueues,
// worker hosts drain; output streams back through Redis; a worker killed
// mid-run answers WorkerLostError, or is retried once when idempotent.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { Pool } from "../../src/api/index.js";
import { QueueFront, QueueWorker, redisConnection } from "../../src/serve/queue.js";
import { BIN, ROOT } from "../cli/helpers.js";
import { call, parseEvents, startServer, TOKEN, type TestServer } from "./helpers.js";

let redis: ChildProcess;
let url: string;
let front: QueueFront;
let server: TestServer;

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitFor(child: ChildProcess, stream: "stdout" | "stderr", pattern: RegExp): Promise<void> {
  let text = "";
  const source = child[stream]!;
  source.setEncoding("utf8");
  while (!pattern.test(text)) {
    if (child.exitCode !== null) throw new Error(`exited: ${text}`);
    const [chunk] = await once(source, "data");
    text += chunk;
  }
}

before(async () => {
  const port = await freePort();
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "inherit"] });
  await waitFor(redis, "stdout", /Ready to accept connections/);
  url = `redis://127.0.0.1:${port}`;
  front = new QueueFront(redisConnection(url));
  await front.ready();
  server = await startServer({ remote: front });
});

after(async () => {
  await server.close();
  await front.close();
  redis.kill("SIGTERM");
  await once(redis, "exit");
});

/** A worker host in this process, with fast stall detection. */
async function localWorker(): Promise<QueueWorker> {
  const host = new QueueWorker(redisConnection(url), new Pool({ size: 1, warmInterpreters: 1 }), { lockDurationMs: 2000, stalledIntervalMs: 1000 });
  await host.ready();
  return host;
}

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

test("with --queue, sessions are refused with 501 rather than pinned nowhere", async () => {
  const answer = await call(server, "POST", "/v1/sessions", {});
  assert.equal(answer.status, 501);
  assert.equal(answer.body.error.type, "NotImplemented");
});

/** Starts a run on a real `pyvisor worker` process, kills that process once the run has started, and lets a local worker take over. */
async function killWorkerMidRun(idempotent: boolean) {
  const doomed = spawn(process.execPath, [BIN, "worker", "--queue", url, "--pool-size", "1", "--lock-duration", "2"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  await waitFor(doomed, "stderr", /draining/);
  const response = fetch(`${server.url}/v1/run`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ code: "import time\nprint('started', flush=True)\ntime.sleep(3)\nprint('finished')", stream: true, idempotent }),
  });
  const reader = (await response).body!.getReader();
  let text = "";
  while (!text.includes("started")) text += Buffer.from((await reader.read()).value!).toString("utf8");
  doomed.kill("SIGKILL");
  await once(doomed, "exit");
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
