// Scale-out on BullMQ (Redis): a front end puts runs on a queue, worker hosts
// drain it, each with its own pool. Results come back as the jobs' return
// values; streamed output through a Redis channel per job. A worker that dies
// mid-run lets its job's lock expire: BullMQ's stalled-job check puts it back
// on the queue once, and the worker that picks it up runs it again only when
// the request said it is idempotent; otherwise it answers WorkerLostError,
// so a run is never silently lost nor silently run twice.
import { randomUUID } from "node:crypto";
import { Queue, QueueEvents, UnrecoverableError, Worker, type ConnectionOptions } from "bullmq";
import { Pool } from "../api/index.js";
import { ServiceError } from "./errors.js";
import { Service, type JsonResult, type RunHooks, type RunRequest, type SandboxRequest } from "./service.js";

const QUEUE_NAME = "pyvisor-runs";

/** The part of BullMQ's Redis client (ioredis) used for output: its types name only the queue's commands. */
interface PubSub {
  subscribe(channel: string): Promise<unknown>;
  on(event: "message", listener: (channel: string, message: string) => void): unknown;
  publish(channel: string, message: string): Promise<unknown>;
  disconnect(): void;
}

async function pubSubClient(client: Promise<unknown>): Promise<PubSub> {
  return ((await client) as { duplicate(): PubSub }).duplicate();
}
const channelOf = (jobId: string) => `pyvisor:output:${jobId}`;
/** The failure a front end reads as "the worker died mid-run and the run may not be repeated". */
const WORKER_LOST = "WorkerLostError";

export interface QueueTiming {
  /** How long a worker's lock on a run lasts without renewal: a dead worker's run is noticed after about this. */
  lockDurationMs: number;
  /** How often workers look for runs whose worker died. */
  stalledIntervalMs: number;
}

export const QUEUE_TIMING: QueueTiming = { lockDurationMs: 30_000, stalledIntervalMs: 15_000 };

interface RunJob {
  owner: string;
  request: SandboxRequest & RunRequest;
  cpuBudgetMs: number;
  idempotent: boolean;
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

/** The front end's side: enqueue a run, relay its output, await its result. */
export class QueueFront {
  private readonly queue: Queue;
  private readonly events: QueueEvents;

  constructor(private readonly connection: ConnectionOptions) {
    this.queue = new Queue(QUEUE_NAME, { connection });
    this.events = new QueueEvents(QUEUE_NAME, { connection });
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  async run(owner: string, request: SandboxRequest & RunRequest, cpuBudgetMs: number, idempotent: boolean, hooks: RunHooks): Promise<JsonResult> {
    const jobId = randomUUID();
    // A connection of its own (a subscribed client can do nothing else), only when output is streamed.
    const subscriber = hooks.onStdout || hooks.onStderr ? await pubSubClient(this.queue.client) : null;
    try {
      if (subscriber) {
        await subscriber.subscribe(channelOf(jobId));
        subscriber.on("message", (_channel: string, message: string) => {
          const { fd, text } = JSON.parse(message) as { fd: 1 | 2; text: string };
          (fd === 1 ? hooks.onStdout : hooks.onStderr)?.(text);
        });
      }
      const data: RunJob = { owner, request, cpuBudgetMs, idempotent };
      const job = await this.queue.add("run", data, { jobId, attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } });
      try {
        return await job.waitUntilFinished(this.events) as JsonResult;
      } catch (error) {
        const message = (error as Error).message;
        if (message.includes(WORKER_LOST) || /stalled more than allowable limit/.test(message)) {
          throw new ServiceError(503, WORKER_LOST, "the worker running this run died; the run was not repeated (mark a request idempotent to let it be retried once)");
        }
        throw new ServiceError(502, "WorkerError", message);
      }
    } finally {
      subscriber?.disconnect();
    }
  }

  async close(): Promise<void> {
    await this.events.close();
    await this.queue.close();
  }
}

/** A worker host: drains the queue into its own pool. */
export class QueueWorker {
  private readonly worker: Worker<RunJob, JsonResult>;
  private readonly service: Service;
  private publisher: PubSub | null = null;

  constructor(connection: ConnectionOptions, pool: Pool, timing: QueueTiming = QUEUE_TIMING) {
    // The front end applied the token's quotas; the worker only runs what it was given.
    this.service = new Service({
      pool, quotas: { concurrentRuns: Infinity, sessions: 0, cpuSecondsPerMinute: Infinity },
      sessionIdleMs: 60_000, maxMemoryBytes: Infinity, maxTimeoutMs: Infinity,
    });
    this.worker = new Worker<RunJob, JsonResult>(QUEUE_NAME, (job) => this.process(job.id!, job.data, job.stalledCounter), {
      connection,
      concurrency: pool.size * 2,
      lockDuration: timing.lockDurationMs,
      stalledInterval: timing.stalledIntervalMs,
      maxStalledCount: 1,
    });
  }

  async ready(): Promise<void> {
    await this.worker.waitUntilReady();
    this.publisher = await pubSubClient(this.worker.client);
  }

  private async process(jobId: string, data: RunJob, stalled: number): Promise<JsonResult> {
    // Picked up again after its worker died: repeat it only when the caller said that is safe.
    if (stalled > 0 && !data.idempotent) throw new UnrecoverableError(WORKER_LOST);
    const publish = (fd: 1 | 2) => (text: string) => { void this.publisher?.publish(channelOf(jobId), JSON.stringify({ fd, text })); };
    const job = await this.service.prepareRun(data.owner, { ...data.request, cpuTime: Math.min(data.request.cpuTime ?? Infinity, data.cpuBudgetMs) });
    return job.start({ onStdout: publish(1), onStderr: publish(2) });
  }

  async close(): Promise<void> {
    await this.worker.close();
    this.publisher?.disconnect();
    await this.service.close();
  }
}
