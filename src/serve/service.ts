// What the HTTP routes and the MCP tools do, in one place: admit a run under
// its token's quota, create its sandbox (fresh or the session's), run it,
// charge it and count it. Only the public API is used, as any user would.
import { randomUUID } from "node:crypto";
import { DEFAULTS, DisposedError, InvalidOptionsError, parseSize, toJSON, Pool, PyvisorError, Sandbox, SandboxCrashedError, type RunResult, type SandboxOptions } from "../api/index.js";
import { notFound, ServiceError } from "./errors.js";
import { Metrics } from "./metrics.js";
import { Quotas, type QuotaLimits, type Ticket } from "./quotas.js";
import { Sessions, type Session } from "./sessions.js";

/** A one-off run sent elsewhere: its id, the request, the CPU it may use, whether it may be repeated. */
export interface RemoteRun {
  id: string;
  owner: string;
  request: SandboxRequest & RunRequest;
  cpuBudgetMs: number;
  idempotent: boolean;
}

/** What a run id answers: where the run is, and its result once it has one. */
export interface RunStatus {
  id: string;
  status: "queued" | "running" | "done" | "failed" | "cancelled";
  result?: JsonResult;
  error?: { type: string; message: string; field?: string };
}

/** A file operation on a session's sandbox, as data (so that it can cross to the worker host holding the session). */
export type FileOp = { op: "list"; path: string } | { op: "read"; path: string } | { op: "write"; path: string; data: Uint8Array };

/**
 * Runs and sessions elsewhere (the BullMQ front end, queue-front.ts). A run
 * is accepted (kept in Redis under its id) once `accept` resolves, or once
 * `run` has started it.
 */
export interface RemoteRunner {
  accept(run: RemoteRun): Promise<void>;
  /** Accepts the run and waits for its result, streaming its output to the hooks; the hooks' signal cancels it. */
  run(run: RemoteRun, hooks: RunHooks): Promise<JsonResult>;
  /** Waits for the result of a run accepted before. */
  finish(id: string): Promise<JsonResult>;
  status(owner: string, id: string): Promise<RunStatus>;
  /** The owner's open sessions and when the first idle one expires, for the session quota. */
  sessionsOf(owner: string): Promise<{ open: number; nextExpiryMs: number }>;
  openSession(owner: string, request: SandboxRequest, idleMs: number): Promise<string>;
  sessionRun(owner: string, id: string, request: RunRequest, cpuBudgetMs: number, hooks: RunHooks): Promise<JsonResult>;
  sessionFile(owner: string, id: string, op: FileOp): Promise<string[] | Uint8Array | null>;
  closeSession(owner: string, id: string): Promise<void>;
}

export interface ServiceConfig {
  pool: Pool;
  /** Set: runs and sessions go to worker hosts through it. */
  remote?: RemoteRunner;
  quotas: QuotaLimits;
  sessionIdleMs: number;
  /** Largest memoryLimit a request may ask for, in bytes. */
  maxMemoryBytes: number;
  /** Longest timeout or cpuTime a request may ask for, in ms. */
  maxTimeoutMs: number;
}

export type FileContent = string | { base64: string };

export interface SandboxRequest {
  files?: Record<string, FileContent>;
  memoryLimit?: number | string;
  timeout?: number;
  env?: Record<string, string>;
}

export interface RunRequest {
  code: string;
  /** The run may be repeated if its worker dies (queue mode); otherwise that answers WorkerLostError. */
  idempotent?: boolean;
  stdin?: string;
  inputs?: Record<string, unknown>;
  timeout?: number;
  cpuTime?: number;
  returnValue?: boolean;
}

export interface RunHooks {
  /** A run on a worker host: called once it is accepted (kept in Redis), before any output. */
  onAccepted?: () => void;
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  signal?: AbortSignal;
}

/** A run's result as JSON: the API's RunResult with its value made JSON-safe (null when the run failed). */
export type JsonResult = Omit<RunResult, "trace">;

/** A run admitted and with its sandbox ready: `start` runs it (once) and releases what it holds. */
export interface Job {
  /** Set for runs on worker hosts: GET /v1/runs/{id} finds the run by it. */
  readonly id?: string;
  start(hooks: RunHooks, after?: (sandbox: Sandbox) => Promise<void>): Promise<JsonResult>;
}

/** Relative paths are the sandbox's working directory's. */
export function guestPath(path: string): string {
  return path.startsWith("/") ? path : `${DEFAULTS.cwd}/${path}`;
}

function toJson(result: RunResult): JsonResult {
  const { trace: _trace, ...rest } = result;
  return { ...rest, value: result.error === null ? toJSON(result.value ?? null) : null };
}

export class Service {
  readonly pool: Pool;
  readonly quotas: Quotas;
  readonly sessions: Sessions;
  readonly metrics: Metrics;

  constructor(readonly config: ServiceConfig) {
    this.pool = config.pool;
    this.quotas = new Quotas(config.quotas);
    this.sessions = new Sessions(config.sessionIdleMs);
    this.metrics = new Metrics(this.pool, () => this.sessions.size);
  }

  private sandboxOptions(request: SandboxRequest): SandboxOptions {
    const options: SandboxOptions = { pool: this.pool };
    if (request.memoryLimit !== undefined) {
      const bytes = parseSize(request.memoryLimit, "memoryLimit");
      if (bytes > this.config.maxMemoryBytes) {
        throw new ServiceError(422, "InvalidField", `memoryLimit: at most ${this.config.maxMemoryBytes} bytes on this server`, "memoryLimit");
      }
      options.memoryLimit = bytes;
    }
    if (request.timeout !== undefined) options.timeout = request.timeout;
    else options.timeout = Math.min(DEFAULTS.timeoutMs, this.config.maxTimeoutMs);
    if (request.env !== undefined) options.env = { ...DEFAULTS.env, ...request.env };
    if (request.files !== undefined) {
      options.files = Object.fromEntries(Object.entries(request.files).map(([path, content]) => [
        guestPath(path), typeof content === "string" ? content : new Uint8Array(Buffer.from(content.base64, "base64")),
      ]));
    }
    return options;
  }

  /**
   * Creates a sandbox. Options passed their checks, so a sandbox that still
   * cannot be made is refused for what the request asked of it (its files:
   * a path under a read-only directory, more than the disk quota).
   */
  private async create(options: SandboxOptions): Promise<Sandbox> {
    try {
      return await Sandbox.create(options);
    } catch (error) {
      if (!(error instanceof PyvisorError) || error instanceof InvalidOptionsError || error instanceof SandboxCrashedError) throw error;
      throw new ServiceError(422, "InvalidField", error.message, options.files !== undefined ? "files" : undefined);
    }
  }

  /** Admits a run under the token's quota, counting a refusal. */
  private admit(owner: string): Ticket {
    try {
      return this.quotas.admit(owner);
    } catch (error) {
      if (error instanceof ServiceError) this.metrics.refuse(error.field ?? error.type);
      throw error;
    }
  }

  private async execute(sandbox: Sandbox, request: RunRequest, { onAccepted, ...hooks }: RunHooks, ticket: Ticket): Promise<JsonResult> {
    // A local run is accepted as it starts.
    onAccepted?.();
    const started = performance.now();
    let cpuMs = 0;
    try {
      const result = await sandbox.run(request.code, {
        ...(request.stdin !== undefined ? { stdin: request.stdin } : {}),
        ...(request.inputs !== undefined ? { inputs: request.inputs } : {}),
        ...(request.timeout !== undefined ? { timeout: request.timeout } : {}),
        cpuTime: Math.min(request.cpuTime ?? Infinity, ticket.cpuBudgetMs),
        returnValue: request.returnValue ?? true,
        ...hooks,
      });
      cpuMs = result.stats.cpuMs;
      this.metrics.ran(result, (performance.now() - started) / 1000);
      return toJson(result);
    } finally {
      ticket.end(cpuMs);
    }
  }

  /** Waits for a run on a worker host under its ticket: its CPU is charged from its result. */
  private async remoteResult(ticket: Ticket, wait: () => Promise<JsonResult>): Promise<JsonResult> {
    const started = performance.now();
    let cpuMs = 0;
    try {
      const result = await wait();
      cpuMs = result.stats.cpuMs;
      this.metrics.ran(result, (performance.now() - started) / 1000);
      return result;
    } finally {
      ticket.end(cpuMs);
    }
  }

  /** A one-off run on a worker host: admitted here; its id is known before it starts (a streamed answer's header carries it). */
  private remoteJob(remote: RemoteRunner, owner: string, request: SandboxRequest & RunRequest): Job & { run: RemoteRun; ticket: Ticket } {
    const ticket = this.admit(owner);
    const run: RemoteRun = { id: randomUUID(), owner, request, cpuBudgetMs: ticket.cpuBudgetMs, idempotent: request.idempotent === true };
    return { id: run.id, run, ticket, start: (hooks) => this.remoteResult(ticket, () => remote.run(run, hooks)) };
  }

  /**
   * Accepts a run without waiting for it (POST /v1/run with "async": true):
   * its id finds its result later, from any front end. Only with worker hosts,
   * where results live in Redis.
   */
  async submitRun(owner: string, request: SandboxRequest & RunRequest): Promise<string> {
    this.sandboxOptions(request);
    const remote = this.config.remote;
    if (!remote) throw new ServiceError(501, "NotImplemented", "asynchronous runs need --queue (their results are kept in Redis)", "async");
    const { run, ticket } = this.remoteJob(remote, owner, request);
    try {
      await remote.accept(run);
    } catch (error) {
      ticket.end(0);
      throw error;
    }
    // The token's quota holds the run until it ends; its failure is read through its id.
    this.remoteResult(ticket, () => remote.finish(run.id)).catch(() => undefined);
    return run.id;
  }

  /** Where a run accepted on the queue is, and its result. */
  async runStatus(owner: string, id: string): Promise<RunStatus> {
    if (!this.config.remote) throw notFound("run");
    return this.config.remote.status(owner, id);
  }

  /** A run in a fresh sandbox: admitted and created here (so a refusal comes before any answer starts). */
  async prepareRun(owner: string, request: SandboxRequest & RunRequest): Promise<Job> {
    const options = this.sandboxOptions(request);
    if (this.config.remote) return this.remoteJob(this.config.remote, owner, request);
    const ticket = this.admit(owner);
    let sandbox: Sandbox;
    try {
      sandbox = await this.create(options);
    } catch (error) {
      ticket.end(0);
      throw error;
    }
    let started = false;
    return {
      start: async (hooks, after) => {
        if (started) throw new Error("a job starts once");
        started = true;
        try {
          const result = await this.execute(sandbox, request, hooks, ticket);
          await after?.(sandbox);
          return result;
        } finally {
          await sandbox.dispose();
        }
      },
    };
  }

  /** A run in a session. */
  prepareSessionRun(owner: string, id: string, request: RunRequest): Job {
    const remote = this.config.remote;
    if (remote) {
      const ticket = this.admit(owner);
      return { start: (hooks) => this.remoteResult(ticket, () => remote.sessionRun(owner, id, request, ticket.cpuBudgetMs, hooks)) };
    }
    const session = this.sessions.get(owner, id);
    const ticket = this.admit(owner);
    return {
      start: (hooks, after) => this.sessions.use(session, async () => {
        const result = await this.execute(session.sandbox, request, hooks, ticket);
        await after?.(session.sandbox);
        return result;
      }),
    };
  }

  /** Opens a session; `idleMs` (default: this service's) is how long it may stay unused. Answers its id. */
  async openSession(owner: string, request: SandboxRequest, idleMs = this.config.sessionIdleMs): Promise<string> {
    const options = this.sandboxOptions(request);
    const remote = this.config.remote;
    const { open, nextExpiryMs } = remote ? await remote.sessionsOf(owner) : { open: this.sessions.countOf(owner), nextExpiryMs: this.sessions.nextExpiryMs(owner) };
    try {
      this.quotas.admitSession(owner, open, nextExpiryMs);
    } catch (error) {
      this.metrics.refuse("sessions");
      throw error;
    }
    if (remote) return remote.openSession(owner, request, idleMs);
    return this.sessions.add(owner, await this.create(options), idleMs).id;
  }

  async closeSession(owner: string, id: string): Promise<void> {
    if (this.config.remote) return this.config.remote.closeSession(owner, id);
    await this.sessions.remove(this.sessions.get(owner, id));
  }

  /** A file operation on a session (its errors are the API's, mapped by toServiceError). */
  async sessionFile(owner: string, id: string, op: FileOp): Promise<string[] | Uint8Array | null> {
    if (this.config.remote) return this.config.remote.sessionFile(owner, id, op);
    const session = this.sessions.get(owner, id);
    return this.sessions.use(session, () => applyFileOp(session.sandbox, op));
  }

  listFiles(owner: string, id: string, path: string): Promise<string[]> {
    return this.sessionFile(owner, id, { op: "list", path: guestPath(path) }) as Promise<string[]>;
  }

  readFile(owner: string, id: string, path: string): Promise<Uint8Array> {
    return this.sessionFile(owner, id, { op: "read", path: guestPath(path) }) as Promise<Uint8Array>;
  }

  async writeFile(owner: string, id: string, path: string, data: Uint8Array): Promise<void> {
    await this.sessionFile(owner, id, { op: "write", path: guestPath(path), data });
  }

  /** Closes every session, then the pool (runs in flight end as cancelled). */
  async close(): Promise<void> {
    await this.sessions.closeAll();
    await this.pool.close();
  }
}

async function applyFileOp(sandbox: Sandbox, op: FileOp): Promise<string[] | Uint8Array | null> {
  if (op.op === "list") return sandbox.fs.list(op.path);
  if (op.op === "read") return sandbox.fs.readFile(op.path);
  await sandbox.fs.writeFile(op.path, op.data);
  return null;
}

/**
 * Any failure as a service refusal, or null for an internal error: an invalid
 * option is the request's field at fault, a closed sandbox an unknown session,
 * a file operation's error (its errno's name first, "ENOENT: ...") the path's.
 */
export function toServiceError(error: unknown): ServiceError | null {
  if (error instanceof ServiceError) return error;
  if (error instanceof InvalidOptionsError) return new ServiceError(422, "InvalidField", error.message, error.option);
  if (error instanceof DisposedError) return new ServiceError(404, "NotFound", "the session was closed");
  if (error instanceof SandboxCrashedError) return new ServiceError(503, "SandboxCrashedError", error.message);
  if (error instanceof PyvisorError) {
    return error.message.startsWith("ENOENT") ? new ServiceError(404, "NotFound", error.message, "path") : new ServiceError(409, "FileError", error.message, "path");
  }
  return null;
}
