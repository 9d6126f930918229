// Sessions: sandboxes that live across requests, each owned by one token
// (another token gets 404, as for an id that does not exist) and disposed
// after an idle time. A session in use is never expired.
import { randomUUID } from "node:crypto";
import type { Sandbox } from "../api/index.js";
import { notFound } from "./errors.js";

export interface Session {
  readonly id: string;
  readonly owner: string;
  readonly sandbox: Sandbox;
  /** How long it may stay unused (a worker host keeps each session's front end's setting). */
  readonly idleMs: number;
  lastUsed: number;
  busy: number;
}

export class Sessions {
  private readonly byId = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  /** `idleMs`: sessions' idle time unless added with their own (and the sweep's pace: a quarter of it). */
  constructor(readonly idleMs: number, private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(idleMs / 4, 30_000)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.byId.size;
  }

  add(owner: string, sandbox: Sandbox, idleMs = this.idleMs): Session {
    const session: Session = { id: randomUUID(), owner, sandbox, idleMs, lastUsed: this.now(), busy: 0 };
    this.byId.set(session.id, session);
    return session;
  }

  get(owner: string, id: string): Session {
    const session = this.byId.get(id);
    if (!session || session.owner !== owner) throw notFound("session");
    return session;
  }

  countOf(owner: string): number {
    let n = 0;
    for (const session of this.byId.values()) if (session.owner === owner) n++;
    return n;
  }

  /** How long until the owner's first idle session expires (the idle time when none is idle). */
  nextExpiryMs(owner: string): number {
    let soonest = this.idleMs;
    for (const s of this.byId.values()) {
      if (s.owner === owner && s.busy === 0) soonest = Math.min(soonest, s.lastUsed + s.idleMs - this.now());
    }
    return Math.max(0, soonest);
  }

  /** Runs `fn` with the session marked busy; its idle time counts from the end. */
  async use<T>(session: Session, fn: () => Promise<T>): Promise<T> {
    session.busy++;
    try {
      return await fn();
    } finally {
      session.busy--;
      session.lastUsed = this.now();
    }
  }

  async remove(session: Session): Promise<void> {
    if (this.byId.get(session.id) !== session) return;
    this.byId.delete(session.id);
    await session.sandbox.dispose();
  }

  sweep(): void {
    const now = this.now();
    for (const session of [...this.byId.values()]) {
      // dispose() does not reject; a failure here must not become an unhandled rejection in the server.
      if (session.busy === 0 && now - session.lastUsed >= session.idleMs) this.remove(session).catch(() => undefined);
    }
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.allSettled([...this.byId.values()].map((s) => this.remove(s)));
  }
}
