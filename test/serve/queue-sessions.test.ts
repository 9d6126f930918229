// Sessions with --queue, on a real redis-server and two worker hosts: a
// session lives on the host that opened it and its later calls go there; a
// host that dies takes its sessions with it, and their calls answer 410
// SessionLostError (never hang, never reach another host's empty sandbox);
// idle sessions expire on their host as they do without the queue.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { redisConnection } from "../../src/serve/queue.js";
import { QueueFront } from "../../src/serve/queue-front.js";
import { call, OTHER_TOKEN, startServer, type TestServer } from "./helpers.js";
import { localWorker, startRedis, workerProcess, type Child, type Redis } from "./redis.js";

let redis: Redis;
let front: QueueFront;
let server: TestServer;

before(async () => {
  redis = await startRedis();
  front = new QueueFront(redisConnection(redis.url));
  await front.ready();
  server = await startServer({ remote: front, quotas: { concurrentRuns: 16, sessions: 16, cpuSecondsPerMinute: 600 } });
});

after(async () => {
  await server.close();
  await front.close();
  await redis.stop();
});

/**
 * Opens sessions at once until both hosts hold one: a host takes at most two
 * openings at a time (twice its pool of one), so the other takes the rest.
 */
async function sessionsOnBothHosts(hosts: string[]): Promise<Map<string, string>> {
  const byHost = new Map<string, string>();
  for (let round = 0; round < 5 && byHost.size < hosts.length; round++) {
    const answers = await Promise.all(Array.from({ length: 6 }, () => call(server, "POST", "/v1/sessions", {})));
    for (const answer of answers) {
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      const host = await front.sessionHost(answer.body.id);
      assert.ok(host !== null && hosts.includes(host), `session ${answer.body.id} on ${host}`);
      if (!byHost.has(host)) byHost.set(host, answer.body.id);
      else await call(server, "DELETE", `/v1/sessions/${answer.body.id}`);
    }
  }
  assert.equal(byHost.size, hosts.length, "every host holds a session");
  return byHost;
}

async function withHosts(fn: (hosts: Child[]) => Promise<void>): Promise<void> {
  const hosts = await Promise.all([workerProcess(redis.url), workerProcess(redis.url)]);
  try {
    await fn(hosts);
  } finally {
    await Promise.all(hosts.map((h) => h.kill()));
  }
}

test("sessions on two worker hosts: each keeps its globals and files across calls, every call reaching the host that holds it", async () => {
  await withHosts(async (hosts) => {
    const sessions = await sessionsOnBothHosts(hosts.map((h) => h.name));
    for (const [host, id] of sessions) {
      assert.equal((await call(server, "POST", `/v1/sessions/${id}/run`, { code: `x = ${JSON.stringify(host)}` })).status, 200);
      assert.equal((await call(server, "PUT", `/v1/sessions/${id}/files/content?path=in.bin`, new Uint8Array([7, 0, 255]))).status, 204);
    }
    for (const [host, id] of sessions) {
      const run = await call(server, "POST", `/v1/sessions/${id}/run`, { code: "open('out.txt', 'w').write(x)\n(x, list(open('in.bin', 'rb').read()))" });
      assert.deepEqual(run.body.value, [host, [7, 0, 255]], JSON.stringify(run.body));
      const list = await call(server, "GET", `/v1/sessions/${id}/files?path=.`);
      assert.deepEqual(list.body.entries.filter((n: string) => n === "in.bin" || n === "out.txt").sort(), ["in.bin", "out.txt"]);
      const download = await call(server, "GET", `/v1/sessions/${id}/files/content?path=out.txt`);
      assert.equal(Buffer.from(download.body).toString("utf8"), host);
      assert.equal((await call(server, "GET", `/v1/sessions/${id}/files/content?path=missing`)).status, 404);
      assert.equal((await call(server, "DELETE", `/v1/sessions/${id}`)).status, 204);
      assert.equal((await call(server, "POST", `/v1/sessions/${id}/run`, { code: "1" })).status, 404);
    }
  });
});

test("with --queue, an unknown session and another token's session answer 404", async () => {
  await withHosts(async () => {
    assert.equal((await call(server, "POST", "/v1/sessions/00000000-0000-0000-0000-000000000000/run", { code: "1" })).status, 404);
    const id = (await call(server, "POST", "/v1/sessions", {})).body.id;
    assert.equal((await call(server, "POST", `/v1/sessions/${id}/run`, { code: "1" }, { token: OTHER_TOKEN })).status, 404);
    assert.equal((await call(server, "DELETE", `/v1/sessions/${id}`, undefined, { token: OTHER_TOKEN })).status, 404);
    assert.equal((await call(server, "DELETE", `/v1/sessions/${id}`)).status, 204);
  });
});

/** Polls a call until it answers something else than 200 (the host's key outlives it by up to 5 s). */
async function untilRefused(path: string, body: unknown): Promise<{ status: number; body: any }> {
  for (let i = 0; i < 60; i++) {
    const answer = await call(server, body === undefined ? "GET" : "POST", path, body);
    if (answer.status !== 200) return answer;
    await sleep(500);
  }
  throw new Error(`${path} still answers 200`);
}

test("a worker host killed: its session's run, files and delete answer 410 SessionLostError; the other host's session goes on", async () => {
  await withHosts(async (hosts) => {
    const sessions = await sessionsOnBothHosts(hosts.map((h) => h.name));
    const [doomed, survivor] = hosts;
    const lostId = sessions.get(doomed!.name)!;
    const keptId = sessions.get(survivor!.name)!;
    await call(server, "POST", `/v1/sessions/${keptId}/run`, { code: "y = 5" });
    await doomed!.kill();
    const run = await untilRefused(`/v1/sessions/${lostId}/run`, { code: "1" });
    assert.equal(run.status, 410, JSON.stringify(run.body));
    assert.equal(run.body.error.type, "SessionLostError");
    assert.equal((await call(server, "GET", `/v1/sessions/${lostId}/files?path=.`)).body.error.type, "SessionLostError");
    assert.equal((await call(server, "DELETE", `/v1/sessions/${lostId}`)).status, 410);
    assert.equal((await call(server, "POST", `/v1/sessions/${keptId}/run`, { code: "y * 2" })).body.value, 10);
    await call(server, "DELETE", `/v1/sessions/${keptId}`);
  });
});

test("a worker host killed in the middle of a session's run: the run answers 410 SessionLostError instead of waiting forever", async () => {
  await withHosts(async ([one, two]) => {
    const id = (await call(server, "POST", "/v1/sessions", {})).body.id;
    const host = await front.sessionHost(id);
    const doomed = [one!, two!].find((h) => h.name === host)!;
    const started = performance.now();
    const running = call(server, "POST", `/v1/sessions/${id}/run`, { code: "import time\ntime.sleep(120)" });
    await sleep(1500);
    await doomed.kill();
    const answer = await running;
    assert.equal(answer.status, 410, JSON.stringify(answer.body));
    assert.equal(answer.body.error.type, "SessionLostError");
    assert.ok(performance.now() - started < 60_000, "answered long before the run would have ended");
  });
});

test("an idle session expires on its worker host: its sandbox is disposed there and its calls answer 404", async () => {
  const idle = await startServer({ remote: front, sessionIdleMs: 1500 });
  const host = await localWorker(redis.url);
  try {
    const id = (await call(idle, "POST", "/v1/sessions", {})).body.id;
    assert.equal(host.service.sessions.size, 1);
    for (let i = 0; i < 100 && host.service.sessions.size > 0; i++) await sleep(100);
    assert.equal(host.service.sessions.size, 0, "the host disposed the idle session");
    assert.equal((await call(idle, "POST", `/v1/sessions/${id}/run`, { code: "1" })).status, 404);
  } finally {
    await host.close();
    await idle.close();
  }
});

test("with --queue, the session quota counts the token's sessions on every host: one past it answers 429", async () => {
  const capped = await startServer({ remote: front, quotas: { concurrentRuns: 4, sessions: 1, cpuSecondsPerMinute: 120 } });
  const host = await localWorker(redis.url);
  try {
    const first = await call(capped, "POST", "/v1/sessions", {});
    assert.equal(first.status, 201);
    const second = await call(capped, "POST", "/v1/sessions", {});
    assert.equal(second.status, 429);
    assert.equal(second.body.error.field, "sessions");
    assert.ok(Number(second.headers.get("retry-after")) >= 1);
    await call(capped, "DELETE", `/v1/sessions/${first.body.id}`);
    assert.equal((await call(capped, "POST", "/v1/sessions", {})).status, 201);
  } finally {
    await host.close();
    await capped.close();
  }
});
