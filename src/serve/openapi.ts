// The OpenAPI 3.1 document served at /openapi.json, built from the schemas
// the routes validate with (3.1 takes JSON Schema as it is).
import { versions } from "../api/index.js";
import {
  acceptedSchema, errorSchema, fileListSchema, healthSchema, pathQuery, runBodySchema, runResultSchema, runStatusSchema, sessionBodySchema,
  sessionRunBodySchema, sessionSchema, type RequestCaps,
} from "./schemas.js";

const json = (schema: object) => ({ "application/json": { schema } });
const error = (description: string) => ({ description, content: json({ $ref: "#/components/schemas/Error" }) });
const result = { $ref: "#/components/schemas/RunResult" };

/** The answers every authenticated operation may give. */
const REFUSALS = {
  401: error("no valid bearer token"),
  413: error("the body (field \"body\") or a field is larger than its limit"),
  422: error("a field is missing, of the wrong type or out of range (named in error.field)"),
  429: { ...error("a quota is exhausted (named in error.field)"), headers: { "Retry-After": { schema: { type: "integer" }, description: "seconds" } } },
  503: error("with --queue: the worker running the run died and the run was not idempotent (WorkerLostError)"),
};

/** With --queue: a session's worker host died (its sandbox with it). */
const LOST = error("with --queue: the worker host holding the session is gone (SessionLostError)");

const runIdHeader = { "X-Run-Id": { schema: { type: "string" }, description: "with --queue: the run's id (GET /v1/runs/{id}); sent before the first event of a streamed answer" } };

const streamed = {
  "text/event-stream": {
    schema: { type: "string" },
    description: "events `stdout` and `stderr` (data: {\"text\": ...}) as the program writes, then one `result` (data: a RunResult) or `error` (data: an Error)",
  },
};

const sessionId = [{ name: "id", in: "path", required: true, schema: { type: "string" } }];
const runId = [{ name: "id", in: "path", required: true, schema: { type: "string" } }];
const pathParam = [{ name: "path", in: "query", required: true, schema: pathQuery.properties.path }];

export function openApiDocument(caps: RequestCaps): object {
  return {
    openapi: "3.1.0",
    info: { title: "pyvisor serve", version: versions().pyvisor, description: "Run untrusted Python (CPython 3.13 on WebAssembly) over HTTP." },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        RunResult: runResultSchema, Error: errorSchema, Session: sessionSchema, FileList: fileListSchema, Health: healthSchema,
        Accepted: acceptedSchema, RunStatus: runStatusSchema,
      },
    },
    security: [{ bearer: [] }],
    paths: {
      "/healthz": { get: { security: [], summary: "liveness", responses: { 200: { description: "serving", content: json({ $ref: "#/components/schemas/Health" }) } } } },
      "/openapi.json": { get: { security: [], summary: "this document", responses: { 200: { description: "OpenAPI 3.1", content: json({ type: "object" }) } } } },
      "/metrics": { get: { summary: "Prometheus metrics", responses: { 200: { description: "text exposition format", content: { "text/plain": { schema: { type: "string" } } } }, 401: REFUSALS[401] } } },
      "/v1/run": {
        post: {
          summary: "run code in a fresh sandbox",
          requestBody: { required: true, content: json(runBodySchema(caps)) },
          responses: {
            200: { description: "the run's result (a failing program is still 200: see error and exitCode)", headers: runIdHeader, content: { ...json(result), ...streamed } },
            202: { description: "with --queue and \"async\": true: accepted (kept in Redis); its result is at Location", headers: { Location: { schema: { type: "string" } } }, content: json({ $ref: "#/components/schemas/Accepted" }) },
            501: error("\"async\": true without --queue"),
            ...REFUSALS,
          },
        },
      },
      "/v1/runs/{id}": {
        get: {
          summary: "with --queue: a run's state, and its result once done (kept an hour)",
          parameters: runId,
          responses: { 200: { description: "the run's state", content: json({ $ref: "#/components/schemas/RunStatus" }) }, 404: error("no such run (or another token's, or its result expired)"), 401: REFUSALS[401] },
        },
      },
      "/v1/sessions": {
        post: {
          summary: "open a session (a sandbox whose globals and files persist across runs)",
          requestBody: { required: false, content: json(sessionBodySchema(caps)) },
          responses: { 201: { description: "opened", content: json({ $ref: "#/components/schemas/Session" }) }, ...REFUSALS },
        },
      },
      "/v1/sessions/{id}": {
        delete: { summary: "close a session", parameters: sessionId, responses: { 204: { description: "closed" }, 404: error("no such session"), 410: LOST, 401: REFUSALS[401] } },
      },
      "/v1/sessions/{id}/run": {
        post: {
          summary: "run code in a session",
          parameters: sessionId,
          requestBody: { required: true, content: json(sessionRunBodySchema(caps)) },
          responses: { 200: { description: "the run's result", content: { ...json(result), ...streamed } }, 404: error("no such session"), 410: LOST, ...REFUSALS },
        },
      },
      "/v1/sessions/{id}/files": {
        get: {
          summary: "list a directory of the session",
          parameters: [...sessionId, ...pathParam],
          responses: { 200: { description: "names in the directory", content: json({ $ref: "#/components/schemas/FileList" }) }, 404: error("no such session or path"), 410: LOST, 401: REFUSALS[401], 422: REFUSALS[422] },
        },
      },
      "/v1/sessions/{id}/files/content": {
        get: {
          summary: "download a file of the session",
          parameters: [...sessionId, ...pathParam],
          responses: { 200: { description: "the file's bytes", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } }, 404: error("no such session or file"), 410: LOST, 401: REFUSALS[401] },
        },
        put: {
          summary: "upload a file to the session (creates or replaces it)",
          parameters: [...sessionId, ...pathParam],
          requestBody: { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
          responses: { 204: { description: "written" }, 404: error("no such session or directory"), 410: LOST, 401: REFUSALS[401], 413: REFUSALS[413], 422: REFUSALS[422] },
        },
      },
      "/mcp": { post: { summary: "MCP over streamable HTTP (stateless; JSON-RPC)", responses: { 200: { description: "JSON-RPC answer" }, 401: REFUSALS[401] } } },
    },
  };
}
