// A worker host (`pyvisor worker --queue`): drains the shared queue (one-off
// runs, session openings) and its own queue (the calls on the sessions it
// holds) into its own pool. It keeps a key alive in Redis while it lives: a
// front end that finds it gone answers its sessions' calls SessionLostError.
// A one-off run whose worker died is picked up again (BullMQ's stalled-job
// check) and run again only when the request said it is idempotent; otherwise
// it answers WorkerLostError, so a run is never silently lost nor silently
// run twice.
import { randomUUID } from "node:crypto";
import { UnrecoverableError, Worker, type ConnectionOptions, type Job } from "bullmq";
import { Pool } from "../api/index.js";
import { ServiceError } from "./errors.js";
import {
  CANCEL_CHANNEL, cancelKey, cancelled, encodeRefusal, hostKey, hostQueueName, outputChannel, QUEUE_NAME, QUEUE_TIMING,
  redisClient, WORKER_LOST, type QueueTiming, type Redis,
} from "./queue.js";
import { Service, toServiceError, type FileOp, type JsonResult, type RemoteRun, type RunHooks, type RunRequest, type SandboxRequest } from "./service.js";

/** How often the host's sessions are looked at for expiry (each keeps the idle time its front end gave it). */
const SWEEP_BASE_MS = 1000;

interface SessionCall {
  owner: string;
  session: string;
}

type WireFileOp = { op: "list" | "read"; path: string } | { op: "write"; path: string; data: string };

export class QueueWorker {
  /** This host's name in Redis: its sessions' records point here. */
  readonly hostId = randomUUID();
  readonly service: Service;
  private readonly shared: Worker;
  private readonly own: Worker;
  private readonly running = new Map<string, AbortController>();
  private redis: Redis | null = null;
  private subscriber: Redis | null = null;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly aliveMs: number;

  constructor(connection: ConnectionOptions, pool: Pool, timing: QueueTiming = QUEUE_TIMING) {
    // The front end applied the token's quotas; the worker only runs what it was given.
    this.service = new Service({
      pool, quotas: { concurrentRuns: Infinity, sessions: Infinity, cpuSecondsPerMinute: Infinity },
      sessionIdleMs: SWEEP_BASE_MS, maxMemoryBytes: Infinity, maxTimeoutMs: Infinity,
    });
    const options = { connection, concurrency: pool.size * 2, lockDuration: timing.lockDurationMs, stalledInterval: timing.stalledIntervalMs, maxStalledCount: 1 };
    this.shared = new Worker(QUEUE_NAME, (job) => this.guard(job, () => this.sharedJob(job)), options);
    // Calls on sessions: many may wait on one session, so more than the pool's size at once.
    this.own = new Worker(hostQueueName(this.hostId), (job) => this.guard(job, () => this.sessionJob(job)), { ...options, concurrency: pool.size * 8 });
    this.aliveMs = Math.max(1000, timing.lockDurationMs);
  }

  async ready(): Promise<void> {
    await Promise.all([this.shared.waitUntilReady(), this.own.waitUntilReady()]);
    this.redis = await redisClient(this.shared.client);
    this.subscriber = await redisClient(this.shared.client);
    await this.subscriber.subscribe(CANCEL_CHANNEL);
    this.subscriber.on("message", (_channel, jobId) => this.running.get(jobId)?.abort());
    await this.beat();
    this.heartbeat = setInterval(() => { void this.beat().catch(() => undefined); }, this.aliveMs / 3);
  }

  private beat(): Promise<unknown> {
    return this.redis!.set(hostKey(this.hostId), "1", "PX", this.aliveMs);
  }

  /** Runs a job's work with a cancel signal; a refusal crosses Redis whole (a job that throws fails, once: attempts is 1). */
  private async guard<T>(job: Job, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof UnrecoverableError) throw error;
      const refusal = toServiceError(error) ?? new ServiceError(500, "InternalError", "internal error on the worker host");
      throw new UnrecoverableError(encodeRefusal(refusal));
    } finally {
      this.running.delete(job.id!);
    }
  }

  /** The hooks of a run: its output published, its signal fired by a cancellation (also one that came before it started). */
  private async hooks(jobId: string): Promise<RunHooks> {
    const controller = new AbortController();
    this.running.set(jobId, controller);
    if (await this.redis!.exists(cancelKey(jobId)) === 1) throw cancelled("the client went away before the run started");
    const publish = (fd: 1 | 2) => (text: string) => { void this.redis?.publish(outputChannel(jobId), JSON.stringify({ fd, text })); };
    return { onStdout: publish(1), onStderr: publish(2), signal: controller.signal };
  }

  private async sharedJob(job: Job): Promise<unknown> {
    if (job.name === "session-open") {
      // Opening again after a host died is safe: the dead host's session died with it.
      const data = job.data as { owner: string; request: SandboxRequest; idleMs: number };
      return { id: await this.service.openSession(data.owner, data.request, data.idleMs), host: this.hostId };
    }
    const data = job.data as RemoteRun;
    // Picked up again after its worker died: repeat it only when the caller said that is safe.
    if (job.stalledCounter > 0 && !data.idempotent) throw new UnrecoverableError(WORKER_LOST);
    const hooks = await this.hooks(job.id!);
    const prepared = await this.service.prepareRun(data.owner, { ...data.request, cpuTime: Math.min(data.request.cpuTime ?? Infinity, data.cpuBudgetMs) });
    return prepared.start(hooks);
  }

  private async sessionJob(job: Job): Promise<unknown> {
    const { owner, session } = job.data as SessionCall;
    if (job.name === "session-run") {
      const { request, cpuBudgetMs } = job.data as SessionCall & { request: RunRequest; cpuBudgetMs: number };
      const hooks = await this.hooks(job.id!);
      return this.service.prepareSessionRun(owner, session, { ...request, cpuTime: Math.min(request.cpuTime ?? Infinity, cpuBudgetMs) }).start(hooks) satisfies Promise<JsonResult>;
    }
    if (job.name === "session-file") {
      const wire = (job.data as SessionCall & { op: WireFileOp }).op;
      const op: FileOp = wire.op === "write" ? { op: "write", path: wire.path, data: new Uint8Array(Buffer.from(wire.data, "base64")) } : { op: wire.op, path: wire.path };
      const answer = await this.service.sessionFile(owner, session, op);
      return answer instanceof Uint8Array ? Buffer.from(answer).toString("base64") : answer;
    }
    if (job.name === "session-close") return this.service.closeSession(owner, session).then(() => null);
    throw new ServiceError(400, "BadRequest", `unknown job ${job.name}`);
  }

  /** Stops taking work, finishes what it has, then drops its key (its sessions are lost from then on) and closes its pool. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await Promise.all([this.shared.close(), this.own.close()]);
    await this.redis?.del(hostKey(this.hostId)).catch(() => undefined);
    this.redis?.disconnect();
    this.subscriber?.disconnect();
    await this.service.close();
  }
}
