// The HTTP front of the service, on fastify: its route schemas are validated
// by Ajv (strict: no coercion, unknown fields refused), its body limit answers
// 413, and closing it stops accepting and waits for requests in flight.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Tokens } from "./auth.js";
import { ServiceError } from "./errors.js";
import { mountMcp } from "./mcp-http.js";
import { openApiDocument } from "./openapi.js";
import { pathQuery, runBodySchema, runParams, sessionBodySchema, sessionParams, sessionRunBodySchema, type RequestCaps } from "./schemas.js";
import { guestPath, toServiceError, type Job, type RunRequest, type SandboxRequest, type Service } from "./service.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The token's owner id (see Tokens.identify); "" on public routes. */
    owner: string;
  }
  interface FastifyContextConfig {
    public?: boolean;
  }
}

export interface HttpOptions {
  tokens: Tokens;
  bodyLimitBytes: number;
  logger?: boolean;
}

/** Ajv's size keywords: a value too large answers 413, any other invalid value 422. */
const SIZE_KEYWORDS = new Set(["maxLength", "maxItems", "maxProperties"]);

interface ErrorBody { error: { type: string; message: string; field?: string } }

function errorBody(type: string, message: string, field?: string): ErrorBody {
  return { error: { type, message, ...(field !== undefined ? { field } : {}) } };
}

/** A JSON pointer into the body ("/files/a~1b") as the field's name ("files.a/b"). */
function fieldName(error: NonNullable<FastifyError["validation"]>[number], context: string | undefined): string {
  const parts = error.instancePath.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  const extra = params.missingProperty ?? params.additionalProperty;
  if (extra !== undefined) parts.push(extra);
  return parts.length > 0 ? parts.join(".") : context ?? "body";
}

/** Maps any failure to a status and a JSON error (a fastify validation error, a service refusal, an API error). */
function refusal(error: unknown): { status: number; body: ErrorBody; retryAfter?: number } {
  const fe = error as FastifyError;
  if (fe.validation && fe.validation.length > 0) {
    const first = fe.validation[0]!;
    const field = fieldName(first, fe.validationContext);
    const tooLarge = SIZE_KEYWORDS.has(first.keyword);
    return { status: tooLarge ? 413 : 422, body: errorBody(tooLarge ? "FieldTooLarge" : "InvalidField", `${field}: ${first.message ?? "invalid"}`, field) };
  }
  if (fe.code === "FST_ERR_CTP_BODY_TOO_LARGE") return { status: 413, body: errorBody("BodyTooLarge", fe.message, "body") };
  if (fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return { status: 415, body: errorBody("UnsupportedMediaType", fe.message, "content-type") };
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode === 400 ? 422 : fe.statusCode, body: errorBody(fe.statusCode === 400 ? "InvalidField" : "BadRequest", fe.message, "body") };
  }
  const refused = toServiceError(error);
  if (refused) return { status: refused.status, body: errorBody(refused.type, refused.message, refused.field), retryAfter: refused.retryAfterSec };
  return { status: 500, body: errorBody("InternalError", "internal error") };
}

function send(reply: FastifyReply, error: unknown): FastifyReply {
  const { status, body, retryAfter } = refusal(error);
  if (retryAfter !== undefined) reply.header("Retry-After", String(retryAfter));
  if (status === 401) reply.header("WWW-Authenticate", "Bearer");
  return reply.code(status).type("application/json").send(body);
}

const wantsStream = (request: FastifyRequest, body: { stream?: boolean }) =>
  body.stream === true || /\btext\/event-stream\b/.test(request.headers.accept ?? "");

/** One server-sent event; data is JSON, so it holds no raw newline. */
const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * Runs a job and answers its result, as JSON or as server-sent events. The
 * job was admitted and its sandbox made before this: refusals are plain
 * HTTP answers. A client that goes away cancels its run.
 */
async function answerRun(request: FastifyRequest, reply: FastifyReply, job: Job, stream: boolean): Promise<void> {
  const gone = new AbortController();
  reply.raw.on("close", () => { if (!reply.raw.writableFinished) gone.abort(); });
  // A queued run's id: if this front end dies mid-answer, GET /v1/runs/{id} on another still has the result.
  const runId = job.id !== undefined ? { "x-run-id": job.id } : {};
  if (!stream) {
    reply.headers(runId);
    const result = await job.start({ signal: gone.signal });
    await reply.type("application/json").send(result);
    return;
  }
  reply.hijack();
  const raw = reply.raw;
  let opened = false;
  // Sent at once, not with the first event (a run still queued has its client waiting for the id meanwhile);
  // a queued run's once it is accepted, so that the id a client holds always finds its run.
  const open = () => {
    if (opened) return;
    opened = true;
    raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no", ...runId });
    raw.flushHeaders();
  };
  if (job.id === undefined) open();
  const write = (text: string) => { if (!raw.destroyed) raw.write(text); };
  try {
    const result = await job.start({
      signal: gone.signal,
      onAccepted: open,
      onStdout: (text) => write(event("stdout", { text })),
      onStderr: (text) => write(event("stderr", { text })),
    });
    write(event("result", result));
  } catch (error) {
    const { status, body } = refusal(error);
    // Refused before it was accepted: still a plain HTTP answer.
    if (!opened) raw.writeHead(status, { "content-type": "application/json; charset=utf-8" }).write(JSON.stringify(body));
    else write(event("error", body));
  } finally {
    raw.end();
  }
}

export function buildHttp(service: Service, options: HttpOptions): FastifyInstance {
  const caps: RequestCaps = { maxTimeoutMs: service.config.maxTimeoutMs };
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimitBytes,
    // Strict validation: "5" is not a number, and an unknown (misspelt) field is refused rather than dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, allowUnionTypes: true } },
    return503OnClosing: true,
  });
  app.decorateRequest("owner", "");
  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  // Authentication runs before the body is read: no token, no parsing.
  app.addHook("onRequest", async (request, reply) => {
    if (request.routeOptions.config.public) return;
    const owner = options.tokens.identify(request.headers.authorization);
    if (owner === null) return send(reply, new ServiceError(401, "Unauthorized", "a valid bearer token is required (Authorization: Bearer TOKEN)"));
    request.owner = owner;
  });
  app.setErrorHandler((error, _request, reply) => send(reply, error));
  app.setNotFoundHandler((_request, reply) => send(reply, new ServiceError(404, "NotFound", "no such endpoint")));

  app.get("/healthz", { config: { public: true } }, async () => ({ status: "ok", poolSize: service.pool.size, sessions: service.sessions.size }));
  const document = openApiDocument(caps);
  app.get("/openapi.json", { config: { public: true } }, async () => document);
  app.get("/metrics", async (_request, reply) => reply.type(service.metrics.contentType).send(await service.metrics.text()));

  app.post<{ Body: SandboxRequest & RunRequest & { stream?: boolean; async?: boolean } }>("/v1/run", { schema: { body: runBodySchema(caps) } }, async (request, reply) => {
    if (request.body.async === true) {
      const id = await service.submitRun(request.owner, request.body);
      return reply.code(202).header("location", `/v1/runs/${id}`).send({ id, status: "queued" });
    }
    const job = await service.prepareRun(request.owner, request.body);
    await answerRun(request, reply, job, wantsStream(request, request.body));
  });

  app.get<{ Params: { id: string } }>("/v1/runs/:id", { schema: { params: runParams } }, async (request) => service.runStatus(request.owner, request.params.id));

  app.post<{ Body: SandboxRequest | undefined }>("/v1/sessions", { schema: { body: sessionBodySchema(caps) } }, async (request, reply) => {
    const id = await service.openSession(request.owner, request.body ?? {});
    return reply.code(201).send({ id, idleTimeoutSeconds: service.config.sessionIdleMs / 1000 });
  });

  type SessionRoute = { Params: { id: string } };
  app.delete<SessionRoute>("/v1/sessions/:id", { schema: { params: sessionParams } }, async (request, reply) => {
    await service.closeSession(request.owner, request.params.id);
    return reply.code(204).send();
  });

  app.post<SessionRoute & { Body: RunRequest & { stream?: boolean } }>("/v1/sessions/:id/run", { schema: { params: sessionParams, body: sessionRunBodySchema(caps) } }, async (request, reply) => {
    const job = service.prepareSessionRun(request.owner, request.params.id, request.body);
    await answerRun(request, reply, job, wantsStream(request, request.body));
  });

  type FileRoute = SessionRoute & { Querystring: { path: string } };
  const fileSchema = { params: sessionParams, querystring: pathQuery };
  app.get<FileRoute>("/v1/sessions/:id/files", { schema: fileSchema }, async (request) => {
    const path = guestPath(request.query.path);
    return { path, entries: await service.listFiles(request.owner, request.params.id, path) };
  });
  app.get<FileRoute>("/v1/sessions/:id/files/content", { schema: fileSchema }, async (request, reply) => {
    const data = await service.readFile(request.owner, request.params.id, request.query.path);
    return reply.type("application/octet-stream").send(Buffer.from(data));
  });
  app.put<FileRoute & { Body: Buffer }>("/v1/sessions/:id/files/content", { schema: fileSchema }, async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) throw new ServiceError(415, "UnsupportedMediaType", "send the file as application/octet-stream", "content-type");
    await service.writeFile(request.owner, request.params.id, request.query.path, new Uint8Array(request.body));
    return reply.code(204).send();
  });

  mountMcp(app, service);
  return app;
}
