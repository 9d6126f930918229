// Sessions: a sandbox kept across requests, its files reachable from the
// host side, owned by one token, closed on DELETE or after an idle time.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { call, OTHER_TOKEN, parseEvents, startServer, type TestServer } from "./helpers.js";

let server: TestServer;
before(async () => { server = await startServer(); });
after(async () => { await server.close(); });

async function open(body: unknown = {}, token?: string): Promise<string> {
  const answer = await call(server, "POST", "/v1/sessions", body, { token });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.id;
}

test("a session keeps its globals between runs", async () => {
  const id = await open();
  assert.equal((await call(server, "POST", `/v1/sessions/${id}/run`, { code: "x = 20" })).status, 200);
  const answer = await call(server, "POST", `/v1/sessions/${id}/run`, { code: "x + 22" });
  assert.equal(answer.body.value, 42);
  await call(server, "DELETE", `/v1/sessions/${id}`);
});

test("a file uploaded to a session is read by its program, and one the program writes is downloaded byte for byte", async () => {
  const id = await open();
  const bytes = new Uint8Array([0, 1, 2, 255]);
  assert.equal((await call(server, "PUT", `/v1/sessions/${id}/files/content?path=in.bin`, bytes)).status, 204);
  const run = await call(server, "POST", `/v1/sessions/${id}/run`, { code: "d = open('in.bin', 'rb').read()\nopen('/tmp/out.bin', 'wb').write(d[::-1])\nlen(d)" });
  assert.equal(run.body.value, 4);
  const download = await call(server, "GET", `/v1/sessions/${id}/files/content?path=/tmp/out.bin`);
  assert.equal(download.status, 200);
  assert.deepEqual([...download.body], [255, 2, 1, 0]);
  await call(server, "DELETE", `/v1/sessions/${id}`);
});

test("listing a session directory names the files in it", async () => {
  const id = await open({ files: { "a.txt": "1", "b.txt": "2" } });
  const answer = await call(server, "GET", `/v1/sessions/${id}/files?path=/home/user`);
  assert.equal(answer.status, 200);
  assert.equal(answer.body.path, "/home/user");
  assert.deepEqual(answer.body.entries.filter((n: string) => n.endsWith(".txt")).sort(), ["a.txt", "b.txt"]);
  await call(server, "DELETE", `/v1/sessions/${id}`);
});

test("downloading a file that does not exist answers 404 naming the path", async () => {
  const id = await open();
  const answer = await call(server, "GET", `/v1/sessions/${id}/files/content?path=nothing.txt`);
  assert.equal(answer.status, 404);
  assert.equal(answer.body.error.field, "path");
  await call(server, "DELETE", `/v1/sessions/${id}`);
});

test("a session run streams as server-sent events when asked", async () => {
  const id = await open();
  const answer = await call(server, "POST", `/v1/sessions/${id}/run`, { code: "print('s')", stream: true });
  const events = parseEvents(answer.body);
  assert.deepEqual(events.map((e) => e.event), ["stdout", "result"]);
  await call(server, "DELETE", `/v1/sessions/${id}`);
});

test("an unknown session id answers 404 on run, files and delete", async () => {
  const id = "00000000-0000-0000-0000-000000000000";
  for (const [method, path, body] of [
    ["POST", `/v1/sessions/${id}/run`, { code: "1" }], ["GET", `/v1/sessions/${id}/files?path=/`, undefined],
    ["GET", `/v1/sessions/${id}/files/content?path=a`, undefined], ["DELETE", `/v1/sessions/${id}`, undefined],
  ] as const) {
    const answer = await call(server, method, path, body);
    assert.equal(answer.status, 404, `${method} ${path}`);
    assert.equal(answer.body.error.type, "NotFound");
  }
});

test("another token cannot reach a session: 404, as for an id that does not exist", async () => {
  const id = await open();
  const answer = await call(server, "POST", `/v1/sessions/${id}/run`, { code: "1" }, { token: OTHER_TOKEN });
  assert.equal(answer.status, 404);
  assert.equal((await call(server, "DELETE", `/v1/sessions/${id}`, undefined, { token: OTHER_TOKEN })).status, 404);
  assert.equal((await call(server, "POST", `/v1/sessions/${id}/run`, { code: "1" })).status, 200);
  await call(server, "DELETE", `/v1/sessions/${id}`);
});

test("a deleted session is gone: its next run answers 404", async () => {
  const id = await open();
  assert.equal((await call(server, "DELETE", `/v1/sessions/${id}`)).status, 204);
  assert.equal((await call(server, "POST", `/v1/sessions/${id}/run`, { code: "1" })).status, 404);
});

test("a session run with a session-only field (files) answers 422 naming it", async () => {
  const id = await open();
  const answer = await call(server, "POST", `/v1/sessions/${id}/run`, { code: "1", files: {} });
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.field, "files");
  await call(server, "DELETE", `/v1/sessions/${id}`);
});

test("a code field over its limit (1 MiB) answers 413 naming code, though the body is within --max-body", async () => {
  const id = await open();
  const answer = await call(server, "POST", `/v1/sessions/${id}/run`, { code: "#".repeat(1024 * 1024 + 1) });
  assert.equal(answer.status, 413);
  assert.equal(answer.body.error.type, "FieldTooLarge");
  assert.equal(answer.body.error.field, "code");
  await call(server, "DELETE", `/v1/sessions/${id}`);
});

test("an idle session expires: after its idle time it answers 404", async () => {
  const idle = await startServer({ sessionIdleMs: 300 });
  try {
    const answer = await call(idle, "POST", "/v1/sessions", {});
    const id = answer.body.id;
    assert.equal(answer.body.idleTimeoutSeconds, 0.3);
    // Watched from the side: any request on the session would count as use and restart its idle time.
    for (let i = 0; i < 100 && idle.service.sessions.size > 0; i++) await sleep(100);
    assert.equal(idle.service.sessions.size, 0);
    assert.equal((await call(idle, "GET", `/v1/sessions/${id}/files?path=/`)).status, 404);
  } finally {
    await idle.close();
  }
});

test("a request on a session restarts its idle time", async () => {
  const idle = await startServer({ sessionIdleMs: 1000 });
  try {
    const id = (await call(idle, "POST", "/v1/sessions", {})).body.id;
    for (let i = 0; i < 6; i++) {
      await sleep(400);
      assert.equal((await call(idle, "GET", `/v1/sessions/${id}/files?path=/`)).status, 200, `request ${i}, ${(i + 1) * 400} ms after opening`);
    }
  } finally {
    await idle.close();
  }
});

test("a session in use is not expired while its run lasts longer than the idle time", async () => {
  const idle = await startServer({ sessionIdleMs: 200 });
  try {
    const id = (await call(idle, "POST", "/v1/sessions", {})).body.id;
    const answer = await call(idle, "POST", `/v1/sessions/${id}/run`, { code: "import time\ntime.sleep(1)\n'done'" });
    assert.equal(answer.body.value, "done");
    assert.equal(answer.body.error, null);
  } finally {
    await idle.close();
  }
});
