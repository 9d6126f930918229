// The front end's side of the queue: one-off runs and session openings go on
// the shared queue; a session's later calls go on the queue of the worker host
// that holds it (its record in Redis names the host). A run's state and result
// stay in Redis under its id, so any front end, a restarted one too, answers
// GET /v1/runs/{id}. A client that goes away cancels its run: taken off the
// queue if no worker has it yet, interrupted on its worker otherwise.
import { randomUUID } from "node:crypto";
import { Job, Queue, QueueEvents, type ConnectionOptions } from "bullmq";
import { notFound, type ServiceError } from "./errors.js";
import {
  CANCEL_CHANNEL, cancelKey, decodeFailure, finished, hostKey, hostQueueName, outputChannel, ownerSessionsKey, QUEUE_NAME,
  redisClient, RESULT_TTL_S, sessionKey, sessionLost, type Redis, type Waiting,
} from "./queue.js";
import type { FileOp, JsonResult, RemoteRun, RemoteRunner, RunHooks, RunRequest, RunStatus, SandboxRequest } from "./service.js";

/** Where a session lives, kept in Redis for its idle time (renewed on each use). */
interface SessionRecord {
  host: string;
  owner: string;
  idleMs: number;
}

interface HostQueue {
  queue: Queue;
  events: QueueEvents;
}

/** Session calls are answered at once: their jobs are not kept for long. */
const SESSION_JOB_TTL_S = 60;

export class QueueFront implements RemoteRunner {
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly hosts = new Map<string, Promise<HostQueue>>();
  private redis: Redis | null = null;

  constructor(private readonly connection: ConnectionOptions) {
    this.queue = new Queue(QUEUE_NAME, { connection });
    this.events = new QueueEvents(QUEUE_NAME, { connection });
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
    this.redis = await redisClient(this.queue.client);
  }

  private get commands(): Redis {
    if (!this.redis) throw new Error("QueueFront: ready() first");
    return this.redis;
  }

  async accept(run: RemoteRun): Promise<void> {
    await this.queue.add("run", run, { jobId: run.id, attempts: 1, removeOnComplete: { age: RESULT_TTL_S }, removeOnFail: { age: RESULT_TTL_S } });
  }

  run(run: RemoteRun, hooks: RunHooks): Promise<JsonResult> {
    return this.streamed(run.id, hooks, async () => {
      await this.accept(run);
      hooks.onAccepted?.();
      return finished<JsonResult>(this.queue, this.events, run.id, this.cancelling(this.queue, run.id, run.owner, hooks.signal));
    });
  }

  finish(id: string): Promise<JsonResult> {
    return finished<JsonResult>(this.queue, this.events, id);
  }

  /** Runs `work` with the job's output relayed to the hooks (subscribed before the job is queued, so none is missed). */
  private async streamed<T>(jobId: string, hooks: RunHooks, work: () => Promise<T>): Promise<T> {
    if (!hooks.onStdout && !hooks.onStderr) return work();
    // A connection of its own: a subscribed client can do nothing else.
    const subscriber = await redisClient(this.queue.client);
    try {
      await subscriber.subscribe(outputChannel(jobId));
      subscriber.on("message", (_channel, message) => {
        const { fd, text } = JSON.parse(message) as { fd: 1 | 2; text: string };
        (fd === 1 ? hooks.onStdout : hooks.onStderr)?.(text);
      });
      return await work();
    } finally {
      subscriber.disconnect();
    }
  }

  /** How a wait is cancelled when the client goes away: marked (for a worker about to start it), taken off the queue, told to its worker. */
  private cancelling(queue: Queue, jobId: string, owner: string, signal: AbortSignal | undefined): Waiting {
    return {
      ...(signal ? { signal } : {}),
      cancel: async () => {
        await this.commands.set(cancelKey(jobId), owner, "PX", RESULT_TTL_S * 1000);
        // A job a worker holds is locked and stays; the worker hears of it below.
        await (await Job.fromId(queue, jobId))?.remove().catch(() => undefined);
        await this.commands.publish(CANCEL_CHANNEL, jobId);
      },
    };
  }

  async status(owner: string, id: string): Promise<RunStatus> {
    const job = await Job.fromId<RemoteRun, JsonResult>(this.queue, id);
    if (!job || job.name !== "run" || job.data.owner !== owner) {
      // Taken off the queue before it started: only its mark is left.
      if (await this.commands.get(cancelKey(id)) === owner) return { id, status: "cancelled" };
      throw notFound("run");
    }
    const state = await job.getState();
    if (state === "completed") {
      const result = job.returnvalue;
      return { id, status: result.error?.type === "CancelledError" ? "cancelled" : "done", result };
    }
    if (state === "failed") {
      const refusal = decodeFailure(job.failedReason);
      return { id, status: refusal.type === "CancelledError" ? "cancelled" : "failed", error: { type: refusal.type, message: refusal.message, ...(refusal.field ? { field: refusal.field } : {}) } };
    }
    return { id, status: state === "active" ? "running" : "queued" };
  }

  // Sessions.

  async sessionsOf(owner: string): Promise<{ open: number; nextExpiryMs: number }> {
    const key = ownerSessionsKey(owner);
    const now = Date.now();
    await this.commands.zremrangebyscore(key, "-inf", now);
    const scores = (await this.commands.zrange(key, 0, -1, "WITHSCORES")).filter((_, i) => i % 2 === 1).map(Number);
    return { open: scores.length, nextExpiryMs: scores.length > 0 ? Math.max(0, Math.min(...scores) - now) : 0 };
  }

  async openSession(owner: string, request: SandboxRequest, idleMs: number): Promise<string> {
    const jobId = randomUUID();
    await this.queue.add("session-open", { owner, request, idleMs }, { jobId, attempts: 1, removeOnComplete: { age: SESSION_JOB_TTL_S }, removeOnFail: { age: SESSION_JOB_TTL_S } });
    const { id, host } = await finished<{ id: string; host: string }>(this.queue, this.events, jobId);
    await this.remember(id, { host, owner, idleMs });
    return id;
  }

  sessionRun(owner: string, id: string, request: RunRequest, cpuBudgetMs: number, hooks: RunHooks): Promise<JsonResult> {
    return this.onHost<JsonResult>(owner, id, "session-run", { request, cpuBudgetMs }, hooks);
  }

  async sessionFile(owner: string, id: string, op: FileOp): Promise<string[] | Uint8Array | null> {
    // Bytes cross Redis as base64 (job data and return values are JSON).
    const wire = op.op === "write" ? { ...op, data: Buffer.from(op.data).toString("base64") } : op;
    const answer = await this.onHost<string[] | string | null>(owner, id, "session-file", { op: wire }, {});
    return typeof answer === "string" ? new Uint8Array(Buffer.from(answer, "base64")) : answer;
  }

  async closeSession(owner: string, id: string): Promise<void> {
    await this.onHost(owner, id, "session-close", {}, {});
  }

  private async remember(id: string, record: SessionRecord): Promise<void> {
    await this.commands.set(sessionKey(id), JSON.stringify(record), "PX", record.idleMs);
    await this.commands.zadd(ownerSessionsKey(record.owner), Date.now() + record.idleMs, id);
  }

  private async forget(id: string, record: SessionRecord): Promise<void> {
    await this.commands.del(sessionKey(id));
    await this.commands.zrem(ownerSessionsKey(record.owner), id);
  }

  /** The session's record: 404 when it is unknown, expired or another token's; 410 when its host is gone. */
  private async route(owner: string, id: string): Promise<SessionRecord> {
    const raw = await this.commands.get(sessionKey(id));
    const record = raw === null ? null : JSON.parse(raw) as SessionRecord;
    if (!record || record.owner !== owner) throw notFound("session");
    if (!await this.alive(record.host)) throw await this.lost(id, record);
    return record;
  }

  /**
   * A session whose host is gone: it no longer counts against its owner's
   * quota, and its record stays until its idle time ends, so that its calls
   * keep answering SessionLostError rather than NotFound (DELETE forgets it).
   */
  private async lost(id: string, record: SessionRecord): Promise<ServiceError> {
    await this.commands.zrem(ownerSessionsKey(record.owner), id);
    await this.dropHost(record.host);
    return sessionLost();
  }

  /** The worker host holding a session, or null (for operators and tests). */
  async sessionHost(id: string): Promise<string | null> {
    const raw = await this.commands.get(sessionKey(id));
    return raw === null ? null : (JSON.parse(raw) as SessionRecord).host;
  }

  private async alive(host: string): Promise<boolean> {
    return await this.commands.exists(hostKey(host)) === 1;
  }

  /** A call on the host holding the session, waited for while that host lives. */
  private async onHost<T>(owner: string, id: string, name: string, data: object, hooks: RunHooks): Promise<T> {
    const closing = name === "session-close";
    let record: SessionRecord;
    try {
      record = await this.route(owner, id);
    } catch (error) {
      if (closing && (error as ServiceError).type === "SessionLostError") await this.commands.del(sessionKey(id));
      throw error;
    }
    const { queue, events } = await this.hostQueue(record.host);
    const jobId = randomUUID();
    let after: "remember" | "forget" | "keep" = closing ? "forget" : "remember";
    try {
      return await this.streamed(jobId, hooks, async () => {
        await queue.add(name, { ...data, owner, session: id }, { jobId, attempts: 1, removeOnComplete: { age: SESSION_JOB_TTL_S }, removeOnFail: { age: SESSION_JOB_TTL_S } });
        return finished<T>(queue, events, jobId, {
          ...this.cancelling(queue, jobId, owner, hooks.signal),
          watch: async () => (await this.alive(record.host) ? null : sessionLost()),
        });
      });
    } catch (error) {
      const { type, field } = error as ServiceError;
      if (type === "SessionLostError") {
        after = closing ? "forget" : "keep";
        await this.lost(id, record);
      }
      // The host no longer has it (closed, expired): a file's NotFound names a field, the session's none.
      if (type === "NotFound" && field === undefined) after = "forget";
      throw error;
    } finally {
      // Its idle time counts from the end of each call (as on the host), and a long run does not let it lapse here.
      if (after !== "keep") await (after === "forget" ? this.forget(id, record) : this.remember(id, record)).catch(() => undefined);
    }
  }

  private hostQueue(host: string): Promise<HostQueue> {
    let entry = this.hosts.get(host);
    if (!entry) {
      entry = (async () => {
        const queue = new Queue(hostQueueName(host), { connection: this.connection });
        const events = new QueueEvents(hostQueueName(host), { connection: this.connection });
        await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
        return { queue, events };
      })();
      this.hosts.set(host, entry);
    }
    return entry;
  }

  /** Stops listening to a dead host's queue (its jobs stay in Redis; no worker will take them). */
  private async dropHost(host: string): Promise<void> {
    const entry = this.hosts.get(host);
    if (!entry) return;
    this.hosts.delete(host);
    const { queue, events } = await entry;
    await events.close();
    await queue.close();
  }

  async close(): Promise<void> {
    for (const entry of this.hosts.values()) {
      const { queue, events } = await entry;
      await events.close();
      await queue.close();
    }
    await this.events.close();
    await this.queue.close();
    this.redis?.disconnect();
  }
}
