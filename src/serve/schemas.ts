// The request and response shapes, as JSON Schema: fastify validates requests
// with them, and the OpenAPI document (openapi.ts) is built from the same
// objects, so the document cannot drift from what the service checks.

/** Field limits (size limits answer 413 naming the field; the body as a whole is capped by --max-body). */
export const FIELD_LIMITS = {
  codeChars: 1024 * 1024,
  stdinChars: 8 * 1024 * 1024,
  files: 256,
  pathChars: 4096,
  inputs: 256,
  env: 256,
};

/** Run limits the server allows a request to ask for. */
export interface RequestCaps {
  maxTimeoutMs: number;
}

const path = { type: "string", minLength: 1, maxLength: FIELD_LIMITS.pathChars };
const fileContent = {
  description: "UTF-8 text, or bytes as {\"base64\": ...}",
  oneOf: [
    { type: "string" },
    { type: "object", required: ["base64"], additionalProperties: false, properties: { base64: { type: "string", contentEncoding: "base64" } } },
  ],
};

/** Options a session or a one-off run's sandbox is created with. */
function sandboxProperties(caps: RequestCaps) {
  return {
    files: {
      type: "object", maxProperties: FIELD_LIMITS.files, propertyNames: { maxLength: FIELD_LIMITS.pathChars },
      additionalProperties: fileContent,
      description: "files to create first: path (relative to /home/user, or absolute) -> content",
    },
    memoryLimit: { type: ["integer", "string"], description: "guest memory: bytes or a size such as \"64M\" (at most the server's --max-memory)" },
    timeout: { type: "integer", minimum: 1, maximum: caps.maxTimeoutMs, description: "wall-clock limit per run, ms" },
    env: { type: "object", maxProperties: FIELD_LIMITS.env, additionalProperties: { type: "string" } },
  };
}

/** What a run asks for (in a session, or with a fresh sandbox). */
function runProperties(caps: RequestCaps) {
  return {
    code: { type: "string", maxLength: FIELD_LIMITS.codeChars },
    stdin: { type: "string", maxLength: FIELD_LIMITS.stdinChars },
    inputs: { type: "object", maxProperties: FIELD_LIMITS.inputs, description: "globals bound for the run (Python identifiers -> JSON data)" },
    timeout: { type: "integer", minimum: 1, maximum: caps.maxTimeoutMs, description: "wall-clock limit for this run, ms" },
    cpuTime: { type: "integer", minimum: 1, maximum: caps.maxTimeoutMs, description: "guest CPU-time limit for this run, ms (capped by the token's CPU quota)" },
    returnValue: { type: "boolean", description: "return the last expression's value (default true)" },
    stream: { type: "boolean", description: "answer as server-sent events (also: Accept: text/event-stream)" },
    idempotent: { type: "boolean", description: "with --queue: the run may be repeated once if its worker dies (otherwise that answers 503 WorkerLostError)" },
  };
}

export function runBodySchema(caps: RequestCaps) {
  return {
    type: "object", required: ["code"], additionalProperties: false,
    properties: {
      ...sandboxProperties(caps), ...runProperties(caps),
      async: { type: "boolean", description: "with --queue: answer 202 with the run's id at once; GET /v1/runs/{id} answers its result" },
    },
  };
}

export function sessionRunBodySchema(caps: RequestCaps) {
  return { type: "object", required: ["code"], additionalProperties: false, properties: runProperties(caps) };
}

export function sessionBodySchema(caps: RequestCaps) {
  return { type: "object", additionalProperties: false, properties: sandboxProperties(caps) };
}

export const runParams = { type: "object", required: ["id"], properties: { id: { type: "string", maxLength: 64 } } };
export const sessionParams = { type: "object", required: ["id"], properties: { id: { type: "string", maxLength: 64 } } };
export const pathQuery = { type: "object", required: ["path"], additionalProperties: false, properties: { path } };

const errorObject = {
  type: "object", required: ["type", "message", "traceback"],
  properties: {
    type: { type: "string" }, message: { type: "string" }, traceback: { type: "string" },
    limit: { type: "string" }, crash: { type: "string" },
  },
};

export const runResultSchema = {
  type: "object",
  required: ["stdout", "stderr", "output", "exitCode", "value", "valueRepr", "repr", "error", "stats"],
  additionalProperties: false,
  properties: {
    stdout: { type: "string" },
    stderr: { type: "string" },
    output: { type: "string", description: "stdout and stderr interleaved as written" },
    exitCode: { type: "integer" },
    value: { description: "the last expression's value as JSON (bytes base64, big ints as strings), or null" },
    valueRepr: { type: "boolean" },
    repr: { type: ["string", "null"], description: "the last value's repr() as a notebook shows it (reprlib-bounded), or null" },
    error: { oneOf: [{ type: "null" }, errorObject] },
    stats: {
      type: "object",
      required: ["wallMs", "cpuMs", "hostMs", "ticks", "memoryBytes", "stdoutBytes", "stderrBytes", "hostCalls", "queuedMs", "reset"],
      properties: {
        wallMs: { type: "number" }, cpuMs: { type: "number" }, hostMs: { type: "number" }, ticks: { type: "number" },
        memoryBytes: { type: "number" }, stdoutBytes: { type: "number" }, stderrBytes: { type: "number" },
        hostCalls: { type: "number" }, queuedMs: { type: "number" }, reset: { type: "boolean" },
      },
    },
  },
};

export const errorSchema = {
  type: "object", required: ["error"], additionalProperties: false,
  properties: {
    error: {
      type: "object", required: ["type", "message"], additionalProperties: false,
      properties: {
        type: { type: "string", description: "Unauthorized, NotFound, QuotaExceeded, BodyTooLarge, FieldTooLarge, InvalidField, ..." },
        message: { type: "string" },
        field: { type: "string", description: "the request field at fault (a quota's name for 429)" },
      },
    },
  },
};

export const sessionSchema = {
  type: "object", required: ["id", "idleTimeoutSeconds"], additionalProperties: false,
  properties: { id: { type: "string" }, idleTimeoutSeconds: { type: "number" } },
};

export const fileListSchema = {
  type: "object", required: ["path", "entries"], additionalProperties: false,
  properties: { path: { type: "string" }, entries: { type: "array", items: { type: "string" } } },
};

export const healthSchema = {
  type: "object", required: ["status", "poolSize", "sessions"], additionalProperties: false,
  properties: { status: { const: "ok" }, poolSize: { type: "integer" }, sessions: { type: "integer" } },
};

export const acceptedSchema = {
  type: "object", required: ["id", "status"], additionalProperties: false,
  properties: { id: { type: "string" }, status: { const: "queued" } },
};

export const runStatusSchema = {
  type: "object", required: ["id", "status"], additionalProperties: false,
  properties: {
    id: { type: "string" },
    status: { enum: ["queued", "running", "done", "failed", "cancelled"], description: "done: see result (a failing program is done too); failed: the run could not be run (error)" },
    result: { $ref: "#/components/schemas/RunResult" },
    error: errorSchema.properties.error,
  },
};
