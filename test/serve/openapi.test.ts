// /openapi.json describes what the service really answers: every response
// below, normal and refused, is checked against the document's schema for
// its path, method and status (with Ajv, the validator fastify itself uses).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Ajv } from "ajv";
import { redisConnection } from "../../src/serve/queue.js";
import { QueueFront } from "../../src/serve/queue-front.js";
import { call, startServer, type Answer, type TestServer } from "./helpers.js";
import { localWorker, startRedis } from "./redis.js";

let server: TestServer;
let doc: any;
const ajv = new Ajv({ strict: false, allowUnionTypes: true });

before(async () => {
  server = await startServer({ bodyLimitBytes: 64 * 1024, quotas: { concurrentRuns: 4, sessions: 1, cpuSecondsPerMinute: 120 } });
  doc = (await call(server, "GET", "/openapi.json", undefined, { token: null })).body;
  ajv.addSchema(doc, "openapi");
});
after(async () => { await server.close(); });

const pointer = (...parts: Array<string | number>) => parts.map((p) => String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

/** Asserts the document lists this answer for `method path` and that its JSON body matches the schema there. */
function conforms(method: string, path: string, answer: Answer): void {
  const response = doc.paths[path]?.[method.toLowerCase()]?.responses?.[answer.status];
  assert.ok(response, `${method} ${path} ${answer.status} is not in the document`);
  const type = (answer.headers.get("content-type") ?? "").split(";")[0]!;
  if (answer.status === 204) return;
  assert.ok(response.content?.[type], `${method} ${path} ${answer.status}: ${type} is not documented`);
  if (type !== "application/json") return;
  const validate = ajv.getSchema(`openapi#/${pointer("paths", path, method.toLowerCase(), "responses", answer.status, "content", type, "schema")}`)!;
  assert.ok(validate(answer.body), `${method} ${path} ${answer.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(answer.body)}`);
}

/** Asserts a request body the service accepted is valid by the document too. */
function acceptedBody(method: string, path: string, body: unknown): void {
  const validate = ajv.getSchema(`openapi#/${pointer("paths", path, method.toLowerCase(), "requestBody", "content", "application/json", "schema")}`)!;
  assert.ok(validate(body), ajv.errorsText(validate.errors));
}

test("the document is OpenAPI 3.1 with bearer security and every served path", () => {
  assert.equal(doc.openapi, "3.1.0");
  assert.deepEqual(doc.components.securitySchemes.bearer, { type: "http", scheme: "bearer" });
  assert.deepEqual(Object.keys(doc.paths).sort(), [
    "/healthz", "/mcp", "/metrics", "/openapi.json", "/v1/run", "/v1/runs/{id}", "/v1/sessions", "/v1/sessions/{id}", "/v1/sessions/{id}/files",
    "/v1/sessions/{id}/files/content", "/v1/sessions/{id}/run",
  ]);
});

test("GET /healthz answers as documented", async () => {
  conforms("GET", "/healthz", await call(server, "GET", "/healthz", undefined, { token: null }));
});

test("POST /v1/run: a result, a failed program's result and a value with no JSON form answer as documented", async () => {
  for (const body of [{ code: "print(1)\n2" }, { code: "1/0" }, { code: "b'x', {1}, 2**80" }, { code: "while 1: pass", timeout: 200 }]) {
    acceptedBody("POST", "/v1/run", body);
    conforms("POST", "/v1/run", await call(server, "POST", "/v1/run", body));
  }
});

test("POST /v1/run: 401, 413 (body and field), 422 (missing, wrong type, unknown field) answer the documented Error", async () => {
  conforms("POST", "/v1/run", await call(server, "POST", "/v1/run", { code: "1" }, { token: "wrong" }));
  conforms("POST", "/v1/run", await call(server, "POST", "/v1/run", { code: "x".repeat(100_000) }));
  for (const body of [{}, { code: 1 }, { code: "1", nope: true }]) {
    const answer = await call(server, "POST", "/v1/run", body);
    assert.equal(answer.status, 422);
    conforms("POST", "/v1/run", answer);
  }
});

test("POST /v1/run streamed answers as documented text/event-stream", async () => {
  const answer = await call(server, "POST", "/v1/run", { code: "print(1)", stream: true });
  conforms("POST", "/v1/run", answer);
});

test("sessions: open (201), quota (429), run, list, upload (204), download, unknown (404), delete (204) answer as documented", async () => {
  const opened = await call(server, "POST", "/v1/sessions", {});
  conforms("POST", "/v1/sessions", opened);
  conforms("POST", "/v1/sessions", await call(server, "POST", "/v1/sessions", {}));
  const id = opened.body.id;
  conforms("POST", "/v1/sessions/{id}/run", await call(server, "POST", `/v1/sessions/${id}/run`, { code: "open('f', 'w').write('x')" }));
  conforms("GET", "/v1/sessions/{id}/files", await call(server, "GET", `/v1/sessions/${id}/files?path=.`));
  conforms("PUT", "/v1/sessions/{id}/files/content", await call(server, "PUT", `/v1/sessions/${id}/files/content?path=g`, new Uint8Array([1])));
  conforms("GET", "/v1/sessions/{id}/files/content", await call(server, "GET", `/v1/sessions/${id}/files/content?path=f`));
  conforms("GET", "/v1/sessions/{id}/files/content", await call(server, "GET", `/v1/sessions/${id}/files/content?path=missing`));
  conforms("POST", "/v1/sessions/{id}/run", await call(server, "POST", "/v1/sessions/nope/run", { code: "1" }));
  conforms("DELETE", "/v1/sessions/{id}", await call(server, "DELETE", `/v1/sessions/${id}`));
  conforms("DELETE", "/v1/sessions/{id}", await call(server, "DELETE", `/v1/sessions/${id}`));
});

test("GET /metrics answers documented text, and 401 without a token", async () => {
  conforms("GET", "/metrics", await call(server, "GET", "/metrics"));
  conforms("GET", "/metrics", await call(server, "GET", "/metrics", undefined, { token: null }));
});

test("POST /v1/run async without --queue answers the documented 501; GET /v1/runs/{id} the documented 404", async () => {
  conforms("POST", "/v1/run", await call(server, "POST", "/v1/run", { code: "1", async: true }));
  conforms("GET", "/v1/runs/{id}", await call(server, "GET", "/v1/runs/nope"));
});

test("with --queue: 202 accepted, the run's state (200), a streamed answer's X-Run-Id, a lost session (410) answer as documented", async () => {
  const redis = await startRedis();
  const front = new QueueFront(redisConnection(redis.url));
  await front.ready();
  const queued = await startServer({ remote: front });
  const host = await localWorker(redis.url);
  try {
    const accepted = await call(queued, "POST", "/v1/run", { code: "6 * 7", async: true });
    assert.equal(accepted.status, 202);
    assert.equal(accepted.headers.get("location"), `/v1/runs/${accepted.body.id}`);
    conforms("POST", "/v1/run", accepted);
    let state: Answer;
    for (;;) {
      state = await call(queued, "GET", `/v1/runs/${accepted.body.id}`);
      if (state.body.status === "done") break;
      await sleep(100);
    }
    conforms("GET", "/v1/runs/{id}", state);
    assert.equal(state.body.result.value, 42);
    const streamed = await call(queued, "POST", "/v1/run", { code: "print(1)", stream: true });
    assert.ok(doc.paths["/v1/run"].post.responses[200].headers["X-Run-Id"]);
    assert.match(streamed.headers.get("x-run-id") ?? "", /^[0-9a-f-]{36}$/);
    const session = await call(queued, "POST", "/v1/sessions", {});
    conforms("POST", "/v1/sessions", session);
    // A host that stops takes its sessions with it.
    await host.close();
    const lost = await call(queued, "POST", `/v1/sessions/${session.body.id}/run`, { code: "1" });
    assert.equal(lost.status, 410);
    conforms("POST", "/v1/sessions/{id}/run", lost);
  } finally {
    await host.close().catch(() => undefined);
    await queued.close();
    await front.close();
    await redis.stop();
  }
});
