// POST /v1/run: a fresh sandbox per request, the API's result as JSON, and
// every refusal as a JSON error naming the field at fault.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { call, OTHER_TOKEN, parseEvents, startServer, TOKEN, type TestServer } from "./helpers.js";

let server: TestServer;
before(async () => { server = await startServer({ bodyLimitBytes: 64 * 1024 }); });
after(async () => { await server.close(); });

test("a run answers the API's result shape: stdout, the last expression's value, exit code 0", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "print('hi')\n6 * 7" });
  assert.equal(answer.status, 200);
  assert.equal(answer.body.stdout, "hi\n");
  assert.equal(answer.body.value, 42);
  assert.equal(answer.body.exitCode, 0);
  assert.equal(answer.body.error, null);
  assert.equal(typeof answer.body.stats.cpuMs, "number");
});

test("a failing program is a 200 with the Python error, not an HTTP error", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "1/0" });
  assert.equal(answer.status, 200);
  assert.equal(answer.body.error.type, "ZeroDivisionError");
  assert.equal(answer.body.exitCode, 1);
  assert.equal(answer.body.value, null);
});

test("stdin, inputs and files reach the program (files as text or base64, relative to /home/user)", async () => {
  const answer = await call(server, "POST", "/v1/run", {
    code: "import sys\n(sys.stdin.read(), n * 2, open('a.txt').read(), open('/tmp/b.bin', 'rb').read())",
    stdin: "in", inputs: { n: 21 }, files: { "a.txt": "text", "/tmp/b.bin": { base64: Buffer.from([1, 2]).toString("base64") } },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.value, ["in", 42, "text", Buffer.from([1, 2]).toString("base64")]);
});

test("a run past its timeout ends as TimeoutError with exit code 124", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "while True: pass", timeout: 300 });
  assert.equal(answer.status, 200);
  assert.equal(answer.body.error.type, "TimeoutError");
  assert.equal(answer.body.exitCode, 124);
});

test("no Authorization header: 401 Unauthorized with WWW-Authenticate, and the code never runs", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "1" }, { token: null });
  assert.equal(answer.status, 401);
  assert.equal(answer.body.error.type, "Unauthorized");
  assert.equal(answer.headers.get("www-authenticate"), "Bearer");
});

test("a wrong token (even one differing in its last character only) is refused with 401", async () => {
  for (const token of [TOKEN.slice(0, -1) + "x", TOKEN + "x", "", OTHER_TOKEN.toUpperCase()]) {
    const answer = await call(server, "POST", "/v1/run", { code: "1" }, { token });
    assert.equal(answer.status, 401, token);
  }
});

test("a missing code field answers 422 naming the field", async () => {
  const answer = await call(server, "POST", "/v1/run", { stdin: "x" });
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.field, "code");
});

test("a field of the wrong type (timeout as a string) answers 422 naming it: no coercion", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "1", timeout: "5" });
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.type, "InvalidField");
  assert.equal(answer.body.error.field, "timeout");
});

test("an unknown (misspelt) field answers 422 naming it rather than being ignored", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "1", tmeout: 5 });
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.field, "tmeout");
});

test("a timeout above the server's cap answers 422 naming timeout", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "1", timeout: 10 * 60_000 });
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.field, "timeout");
});

test("a memoryLimit above the server's --max-memory answers 422 naming memoryLimit", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "1", memoryLimit: "2G" });
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.field, "memoryLimit");
});

test("a memoryLimit the API refuses (not a size) answers 422 naming memoryLimit", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "1", memoryLimit: "lots" });
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.field, "memoryLimit");
});

test("a file path the API refuses (under /dev) answers 422 naming files", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "1", files: { "/dev/x": "y" } });
  assert.equal(answer.status, 422);
  assert.match(answer.body.error.field, /^files/);
});

test("a body over --max-body answers 413 naming the body", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "#" + "x".repeat(100 * 1024) });
  assert.equal(answer.status, 413);
  assert.equal(answer.body.error.type, "BodyTooLarge");
  assert.equal(answer.body.error.field, "body");
});

test("malformed JSON answers a JSON error (422 on the body), not an HTML page", async () => {
  const answer = await call(server, "POST", "/v1/run", "{\"code\": ");
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.field, "body");
});

test("an unknown endpoint answers 404 as JSON", async () => {
  const answer = await call(server, "GET", "/v1/nothing");
  assert.equal(answer.status, 404);
  assert.equal(answer.body.error.type, "NotFound");
});

test("Accept: text/event-stream streams stdout and stderr as events, then the result", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr, flush=True)\n7" }, { headers: { accept: "text/event-stream" } });
  assert.equal(answer.status, 200);
  assert.match(answer.headers.get("content-type") ?? "", /^text\/event-stream/);
  const events = parseEvents(answer.body);
  assert.equal(events.filter((e) => e.event === "stdout").map((e) => e.data.text).join(""), "out\n");
  assert.equal(events.filter((e) => e.event === "stderr").map((e) => e.data.text).join(""), "err\n");
  const last = events.at(-1)!;
  assert.equal(last.event, "result");
  assert.equal(last.data.value, 7);
});

test("stream: true in the body streams as events too; output arrives before the run ends", async () => {
  const response = await fetch(`${server.url}/v1/run`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ code: "import time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second')", stream: true }),
  });
  const reader = response.body!.getReader();
  let text = "";
  // The first event comes while the program sleeps: read until it is there, then check the run is not over.
  while (!text.includes("event: stdout")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString("utf8");
  }
  assert.match(text, /"text":"first\\n"/);
  assert.doesNotMatch(text, /event: result/);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString("utf8");
  }
  const events = parseEvents(text);
  assert.equal(events.at(-1)!.event, "result");
  assert.equal(events.at(-1)!.data.stdout, "first\nsecond\n");
});

test("a value with no JSON form comes JSON-safe: bytes as base64, big ints as strings, sets as lists", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "(b'\\x00\\xff', 2**70, {3})" });
  assert.deepEqual(answer.body.value, ["AP8=", String(2n ** 70n), [3]]);
});

test("files the sandbox cannot hold (under the read-only /usr) answer 422 naming files", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "1", files: { "/usr/x.txt": "y" } });
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.field, "files");
});

test("a client that goes away cancels its run: the engine is freed long before the run's timeout", async () => {
  const client = new AbortController();
  const response = await fetch(`${server.url}/v1/run`, {
    method: "POST", signal: client.signal,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ code: "print('spinning', flush=True)\nwhile True: pass", timeout: 60_000, stream: true }),
  });
  const reader = response.body!.getReader();
  await reader.read();
  client.abort();
  const started = Date.now();
  while (server.service.pool.pendingRuns > 0 && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50));
  assert.equal(server.service.pool.pendingRuns, 0, "the run still holds the engine");
  const metrics = (await call(server, "GET", "/metrics")).body as string;
  assert.match(metrics, /pyvisor_runs_total\{outcome="cancelled"\} 1/);
});
