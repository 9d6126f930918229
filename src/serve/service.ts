// What the HTTP routes and the MCP tools do, in one place: admit a run under
// its token's quota, create its sandbox (fresh or the session's), run it,
// charge it and count it. Only the public API is used, as any user would.
import { DEFAULTS, InvalidOptionsError, parseSize, toJSON, Pool, PyvisorError, Sandbox, SandboxCrashedError, type RunResult, type SandboxOptions } from "../api/index.js";
import { ServiceError } from "./errors.js";
import { Metrics } from "./metrics.js";
import { Quotas, type QuotaLimits, type Ticket } from "./quotas.js";
import { Sessions, type Session } from "./sessions.js";

/** Runs elsewhere (the BullMQ front end, queue.ts): the request, the CPU it may use, whether it may be repeated. */
export interface RemoteRunner {
  run(owner: string, request: SandboxRequest & RunRequest, cpuBudgetMs: number, idempotent: boolean, hooks: RunHooks): Promise<JsonResult>;
}

export interface ServiceConfig {
  pool: Pool;
  /** Set: one-off runs go to worker hosts through it, and sessions are not offered. */
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
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  signal?: AbortSignal;
}

/** A run's result as JSON: the API's RunResult with its value made JSON-safe (null when the run failed). */
export type JsonResult = Omit<RunResult, "trace">;

/** A run admitted and with its sandbox ready: `start` runs it (once) and releases what it holds. */
export interface Job {
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

  private async execute(sandbox: Sandbox, request: RunRequest, hooks: RunHooks, ticket: Ticket): Promise<JsonResult> {
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

  /** A run on a worker host: admitted here, its CPU charged from its result. */
  private remoteJob(remote: RemoteRunner, owner: string, request: SandboxRequest & RunRequest): Job {
    const ticket = this.admit(owner);
    return {
      start: async (hooks) => {
        const started = performance.now();
        let cpuMs = 0;
        try {
          const result = await remote.run(owner, request, ticket.cpuBudgetMs, request.idempotent === true, hooks);
          cpuMs = result.stats.cpuMs;
          this.metrics.ran(result, (performance.now() - started) / 1000);
          return result;
        } finally {
          ticket.end(cpuMs);
        }
      },
    };
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

  async openSession(owner: string, request: SandboxRequest): Promise<Session> {
    if (this.config.remote) throw new ServiceError(501, "NotImplemented", "sessions are not offered when runs go to worker hosts (--queue)");
    const options = this.sandboxOptions(request);
    try {
      this.quotas.admitSession(owner, this.sessions.countOf(owner), this.sessions.nextExpiryMs(owner));
    } catch (error) {
      this.metrics.refuse("sessions");
      throw error;
    }
    return this.sessions.add(owner, await this.create(options));
  }

  async closeSession(owner: string, id: string): Promise<void> {
    await this.sessions.remove(this.sessions.get(owner, id));
  }

  /** A file operation on a session's sandbox (its errors are the API's, mapped by the caller). */
  withSession<T>(owner: string, id: string, fn: (sandbox: Sandbox) => Promise<T>): Promise<T> {
    const session = this.sessions.get(owner, id);
    return this.sessions.use(session, () => fn(session.sandbox));
  }

  /** Closes every session, then the pool (runs in flight end as cancelled). */
  async close(): Promise<void> {
    await this.sessions.closeAll();
    await this.pool.close();
  }
}

/** An API error as a service refusal: an invalid option is the request's field at fault. */
export function fromApiError(error: unknown): ServiceError | null {
  if (error instanceof ServiceError) return error;
  if (error instanceof InvalidOptionsError) return new ServiceError(422, "InvalidField", error.message, error.option);
  return null;
}
