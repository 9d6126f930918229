// Scale-out on BullMQ (Redis): what the front end (queue-front.ts) and the
// worker hosts (queue-worker.ts) agree on. One-off runs and session openings
// go on one shared queue that every worker host drains; a session lives on the
// host that opened it, and its later calls go on that host's own queue. Output
// streams back through a Redis channel per job; a cancellation reaches a
// worker through a channel and a key (the key for a job not started yet).
import { Job, type ConnectionOptions, type Queue, type QueueEvents } from "bullmq";
import { ServiceError } from "./errors.js";

export const QUEUE_NAME = "pyvisor-runs";
export const hostQueueName = (host: string) => `pyvisor-host-${host}`;
export const outputChannel = (jobId: string) => `pyvisor:output:${jobId}`;
export const CANCEL_CHANNEL = "pyvisor:cancel";
export const cancelKey = (jobId: string) => `pyvisor:cancelled:${jobId}`;
/** Present while the host is alive (it renews it); a session whose host's key is gone is lost. */
export const hostKey = (host: string) => `pyvisor:host:${host}`;
export const sessionKey = (id: string) => `pyvisor:session:${id}`;
/** A sorted set of the owner's sessions, scored by when each expires (for the session quota). */
export const ownerSessionsKey = (owner: string) => `pyvisor:sessions:${owner}`;

/** How long a run's result (and a cancelled run's mark) stays readable at GET /v1/runs/{id}. */
export const RESULT_TTL_S = 3600;

/** The failure a front end reads as "the worker died mid-run and the run may not be repeated". */
export const WORKER_LOST = "WorkerLostError";

export interface QueueTiming {
  /** How long a worker's lock on a run lasts without renewal: a dead worker's run is noticed after about this. */
  lockDurationMs: number;
  /** How often workers look for runs whose worker died. */
  stalledIntervalMs: number;
}

export const QUEUE_TIMING: QueueTiming = { lockDurationMs: 30_000, stalledIntervalMs: 15_000 };

/**
 * The Redis commands used beside BullMQ's own, on a client duplicated from
 * BullMQ's (its types name only what the queue uses; the client passes the
 * others to ioredis).
 */
export interface Redis {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, mode: "PX", ms: number): Promise<unknown>;
  del(...keys: string[]): Promise<number>;
  exists(key: string): Promise<number>;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  on(event: "message", listener: (channel: string, message: string) => void): unknown;
  zadd(key: string, score: number, member: string): Promise<unknown>;
  zrem(key: string, member: string): Promise<unknown>;
  zremrangebyscore(key: string, min: string | number, max: string | number): Promise<unknown>;
  zrange(key: string, start: number, stop: number, scores: "WITHSCORES"): Promise<string[]>;
  disconnect(): void;
}

export async function redisClient(client: Promise<unknown>): Promise<Redis> {
  return ((await client) as { duplicate(): Redis }).duplicate();
}

/** redis://[user:password@]host[:port][/db] as connection options. */
export function redisConnection(url: string): ConnectionOptions {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:") throw new Error(`--queue: expected a redis:// URL, got ${JSON.stringify(url)}`);
  return {
    host: parsed.hostname || "127.0.0.1",
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
    // BullMQ's blocking commands need this.
    maxRetriesPerRequest: null,
  };
}

/** A job's failure crosses Redis as text: a service refusal is kept whole after this mark. */
const REFUSAL = "pyvisor-refusal:";

export function encodeRefusal(error: ServiceError): string {
  return REFUSAL + JSON.stringify({ status: error.status, type: error.type, message: error.message, field: error.field });
}

/** A failed job's reason as the refusal the client gets. */
export function decodeFailure(reason: string): ServiceError {
  if (reason.startsWith(REFUSAL)) {
    const { status, type, message, field } = JSON.parse(reason.slice(REFUSAL.length)) as { status: number; type: string; message: string; field?: string };
    return new ServiceError(status, type, message, field);
  }
  if (reason.includes(WORKER_LOST) || /stalled more than allowable limit/.test(reason)) {
    return new ServiceError(503, WORKER_LOST, "the worker running this run died; the run was not repeated (mark a request idempotent to let it be retried once)");
  }
  return new ServiceError(502, "WorkerError", reason);
}

export const cancelled = (message: string) => new ServiceError(499, "CancelledError", message);
export const sessionLost = () => new ServiceError(410, "SessionLostError", "the worker host holding this session is gone, and the session's globals and files with it");

export interface Waiting {
  /** Aborts the wait (the client went away): the job is cancelled first. */
  signal?: AbortSignal;
  cancel?: () => Promise<void>;
  /** Checked every half second while waiting: a refusal to end the wait with (the session's host died). */
  watch?: () => Promise<ServiceError | null>;
}

const LOOK_EVERY_MS = 500;

/**
 * A job's return value, or its failure as a refusal. Listens before it looks,
 * so a job that finishes in between is not missed (as BullMQ's own
 * waitUntilFinished does, which cannot be stopped).
 */
export function finished<T>(queue: Queue, events: QueueEvents, jobId: string, waiting: Waiting = {}): Promise<T> {
  // Per-job events ("completed:ID") are emitted by QueueEvents but not named in its types.
  const emitter = events as unknown as NodeJS.EventEmitter;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const done = (error: ServiceError | null, value?: T) => {
      if (settled) return;
      settled = true;
      emitter.off(`completed:${jobId}`, onCompleted);
      emitter.off(`failed:${jobId}`, onFailed);
      waiting.signal?.removeEventListener("abort", onAbort);
      clearInterval(timer);
      if (error) reject(error);
      else resolve(value as T);
    };
    const onCompleted = (args: { returnvalue: unknown }) => done(null, args.returnvalue as T);
    const onFailed = (args: { failedReason: string }) => done(decodeFailure(args.failedReason));
    const onAbort = () => {
      done(cancelled("the client went away"));
      void waiting.cancel?.().catch(() => undefined);
    };
    emitter.on(`completed:${jobId}`, onCompleted);
    emitter.on(`failed:${jobId}`, onFailed);
    if (waiting.signal?.aborted) return onAbort();
    waiting.signal?.addEventListener("abort", onAbort, { once: true });
    // Looked at now and then as well: a QueueEvents made just before the job (a host's, made on first use) can miss
    // an event sent before its first read of the stream, and a wait must not hang on that.
    const look = async () => {
      const error = await waiting.watch?.();
      if (error) return done(error);
      const job = await Job.fromId(queue, jobId);
      if (!job?.finishedOn) return;
      if (job.failedReason) onFailed({ failedReason: job.failedReason });
      else onCompleted({ returnvalue: job.returnvalue });
    };
    timer = setInterval(() => { void look().catch(() => undefined); }, LOOK_EVERY_MS);
    void look().catch(() => undefined);
  });
}
