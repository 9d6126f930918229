// `pyvisor serve` (HTTP, with MCP at /mcp) and `pyvisor mcp` (MCP over
// stdio): option parsing, start-up, and the graceful shutdown on SIGTERM or
// SIGINT (stop accepting, let requests in flight finish, close sessions and
// the pool).
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { parseSize, Pool, type Isolation } from "../api/index.js";
import { loadTokens, Tokens } from "./auth.js";
import { buildHttp } from "./http.js";
import { createMcpServer } from "./mcp.js";
import { QUEUE_TIMING, redisConnection } from "./queue.js";
import { QueueFront } from "./queue-front.js";
import { QueueWorker } from "./queue-worker.js";
import { Service } from "./service.js";

export class ServeUsageError extends Error {
  override name = "ServeUsageError";
}

export interface ServeOptions {
  host: string;
  port: number;
  tokenFile?: string;
  concurrentRuns: number;
  sessions: number;
  cpuSecondsPerMinute: number;
  sessionIdleMs: number;
  bodyLimitBytes: number;
  maxTimeoutMs: number;
  maxMemoryBytes: number;
  poolSize?: number;
  isolation: Isolation;
  /** redis:// URL: serve enqueues runs there, worker drains them. */
  queue?: string;
  /** worker: how long its lock on a run lasts; a dead worker's run is noticed after about this. */
  lockDurationMs: number;
}

export const SERVE_DEFAULTS: ServeOptions = {
  host: "127.0.0.1",
  port: 8000,
  concurrentRuns: 4,
  sessions: 8,
  cpuSecondsPerMinute: 120,
  sessionIdleMs: 600_000,
  bodyLimitBytes: 16 * 1024 * 1024,
  maxTimeoutMs: 60_000,
  maxMemoryBytes: 512 * 1024 * 1024,
  isolation: "process",
  lockDurationMs: QUEUE_TIMING.lockDurationMs,
};

function count(flag: string, value: string, min: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new ServeUsageError(`${flag}: expected an integer of at least ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function seconds(flag: string, value: string): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n > 0) || n > 2_000_000) throw new ServeUsageError(`${flag}: expected a positive number of seconds, got ${JSON.stringify(value)}`);
  return Math.round(n * 1000);
}

function bytes(flag: string, value: string): number {
  try {
    const n = parseSize(value, flag);
    if (n > 0) return n;
  } catch { /* worded below */ }
  throw new ServeUsageError(`${flag}: not a size: ${JSON.stringify(value)} (use e.g. 16M)`);
}

const SETTERS: Record<string, (o: ServeOptions, v: string) => void> = {
  host: (o, v) => { o.host = v; },
  port: (o, v) => { o.port = count("--port", v, 0); if (o.port > 65535) throw new ServeUsageError(`--port: at most 65535, got ${v}`); },
  "token-file": (o, v) => { o.tokenFile = v; },
  "max-runs": (o, v) => { o.concurrentRuns = count("--max-runs", v, 1); },
  "max-sessions": (o, v) => { o.sessions = count("--max-sessions", v, 0); },
  "cpu-per-minute": (o, v) => { o.cpuSecondsPerMinute = seconds("--cpu-per-minute", v) / 1000; },
  "session-idle": (o, v) => { o.sessionIdleMs = seconds("--session-idle", v); },
  "max-body": (o, v) => { o.bodyLimitBytes = bytes("--max-body", v); },
  "max-timeout": (o, v) => { o.maxTimeoutMs = seconds("--max-timeout", v); },
  "max-memory": (o, v) => { o.maxMemoryBytes = bytes("--max-memory", v); },
  "pool-size": (o, v) => { o.poolSize = count("--pool-size", v, 1); },
  queue: (o, v) => {
    try {
      redisConnection(v);
    } catch (error) {
      throw new ServeUsageError((error as Error).message);
    }
    o.queue = v;
  },
  "lock-duration": (o, v) => { o.lockDurationMs = seconds("--lock-duration", v); },
  isolation: (o, v) => {
    if (v !== "process" && v !== "thread") throw new ServeUsageError(`--isolation: expected "process" or "thread", got ${JSON.stringify(v)}`);
    o.isolation = v;
  },
};

/** Parses the options after `serve` or `mcp` (all take a value: --name VALUE or --name=VALUE). */
export function parseServeArgs(argv: readonly string[], environment: NodeJS.ProcessEnv = process.env): ServeOptions {
  const options: ServeOptions = { ...SERVE_DEFAULTS, isolation: environment.PYVISOR_ISOLATION === "thread" ? "thread" : "process" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const setter = match ? SETTERS[match[1]!] : undefined;
    if (!match || !setter) throw new ServeUsageError(`unknown option ${arg}`);
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new ServeUsageError(`option --${match[1]} needs an argument`);
    setter(options, value);
  }
  return options;
}

function pool(options: ServeOptions): Pool {
  return new Pool({ isolation: options.isolation, ...(options.poolSize !== undefined ? { size: options.poolSize } : {}) });
}

function service(options: ServeOptions, front?: QueueFront): Service {
  return new Service({
    // A front end that enqueues runs needs no engines of its own beyond one.
    pool: front ? new Pool({ isolation: options.isolation, size: 1, warmInterpreters: 0 }) : pool(options),
    ...(front ? { remote: front } : {}),
    quotas: { concurrentRuns: options.concurrentRuns, sessions: options.sessions, cpuSecondsPerMinute: options.cpuSecondsPerMinute },
    sessionIdleMs: options.sessionIdleMs,
    maxMemoryBytes: options.maxMemoryBytes,
    maxTimeoutMs: options.maxTimeoutMs,
  });
}

/** Resolves on the first SIGTERM or SIGINT. */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => {
      process.off("SIGTERM", on);
      process.off("SIGINT", on);
      resolve(signal);
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
}

async function serve(options: ServeOptions): Promise<number> {
  let tokens: Tokens;
  try {
    tokens = new Tokens(loadTokens(process.env.PYVISOR_TOKEN, options.tokenFile));
  } catch (error) {
    throw new ServeUsageError((error as Error).message);
  }
  const front = options.queue !== undefined ? new QueueFront(redisConnection(options.queue)) : undefined;
  await front?.ready();
  const svc = service(options, front);
  const app = buildHttp(svc, { tokens, bodyLimitBytes: options.bodyLimitBytes });
  let address: string;
  try {
    address = await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    process.stderr.write(`pyvisor serve: cannot listen on ${options.host}:${options.port}: ${(error as Error).message}\n`);
    await svc.close();
    await front?.close();
    return 1;
  }
  process.stderr.write(`pyvisor serve: listening on ${address}\n`);
  const signal = await stopSignal();
  process.stderr.write(`pyvisor serve: ${signal}: draining\n`);
  await app.close();
  await svc.close();
  await front?.close();
  process.stderr.write("pyvisor serve: stopped\n");
  return 0;
}

async function mcpStdio(options: ServeOptions): Promise<number> {
  const svc = service(options);
  const server = createMcpServer(svc, "stdio");
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => { transport.onclose = resolve; });
  process.stdin.once("end", () => { void transport.close(); });
  await server.connect(transport);
  await Promise.race([closed, stopSignal()]);
  await server.close();
  await svc.close();
  return 0;
}

/** `pyvisor worker --queue URL`: drains runs into this host's pool until SIGTERM (the run in progress finishes first). */
async function worker(options: ServeOptions): Promise<number> {
  if (options.queue === undefined) throw new ServeUsageError("--queue redis://... is required");
  const host = new QueueWorker(redisConnection(options.queue), pool(options), { lockDurationMs: options.lockDurationMs, stalledIntervalMs: Math.max(500, options.lockDurationMs / 2) });
  await host.ready();
  // The URL without its password: logs are read by more people than hold it.
  const where = new URL(options.queue);
  where.password = "";
  process.stderr.write(`pyvisor worker: host ${host.hostId}, draining ${where.href}\n`);
  const signal = await stopSignal();
  process.stderr.write(`pyvisor worker: ${signal}: finishing runs in progress\n`);
  await host.close();
  return 0;
}

const COMMANDS = { serve, mcp: mcpStdio, worker };

/** Runs `pyvisor serve|mcp|worker ARGS`; returns the exit status (2: usage error). */
export async function serveMain(command: keyof typeof COMMANDS, argv: readonly string[]): Promise<number> {
  try {
    const options = parseServeArgs(argv);
    return await COMMANDS[command](options);
  } catch (error) {
    if (!(error instanceof ServeUsageError)) throw error;
    process.stderr.write(`pyvisor ${command}: ${error.message} (see pyvisor ${command} --help)\n`);
    return 2;
  }
}
