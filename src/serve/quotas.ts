// Per-token quotas: runs at once, open sessions, and guest CPU time over the
// last minute. CPU time is also enforced inside a run: it is given at most the
// budget left as its cpuTime limit, so a token cannot overdraw by one long run.
import { quotaExceeded } from "./errors.js";

export interface QuotaLimits {
  /** Runs one token may have in progress (sessions' runs included). */
  concurrentRuns: number;
  /** Sessions one token may hold open. */
  sessions: number;
  /** Guest CPU seconds one token may use in any 60 s window. */
  cpuSecondsPerMinute: number;
}

const WINDOW_MS = 60_000;

interface Usage {
  running: number;
  /** CPU spent by finished runs in the window, oldest first. */
  cpu: Array<{ at: number; ms: number }>;
}

/** A run admitted under its token's quota: the CPU it may use, and what to call when it ends. */
export interface Ticket {
  cpuBudgetMs: number;
  /** Charges the run's CPU time and frees its slot; call once. */
  end(cpuMs: number): void;
}

export class Quotas {
  private readonly usage = new Map<string, Usage>();

  constructor(readonly limits: QuotaLimits, private readonly now: () => number = Date.now) {}

  private of(owner: string): Usage {
    let usage = this.usage.get(owner);
    if (!usage) this.usage.set(owner, usage = { running: 0, cpu: [] });
    const since = this.now() - WINDOW_MS;
    while (usage.cpu.length > 0 && usage.cpu[0]!.at <= since) usage.cpu.shift();
    return usage;
  }

  /** Admits a run or throws 429 (ServiceError) with the time after which it would be admitted. */
  admit(owner: string): Ticket {
    const usage = this.of(owner);
    if (usage.running >= this.limits.concurrentRuns) {
      throw quotaExceeded("concurrentRuns", `this token already has ${usage.running} runs in progress (the quota is ${this.limits.concurrentRuns})`, 1000);
    }
    const budgetMs = this.limits.cpuSecondsPerMinute * 1000;
    let spent = usage.cpu.reduce((sum, entry) => sum + entry.ms, 0);
    if (spent >= budgetMs) {
      // Free again once enough of the oldest spending leaves the window.
      let at = this.now();
      for (const entry of usage.cpu) {
        spent -= entry.ms;
        at = entry.at + WINDOW_MS;
        if (spent < budgetMs) break;
      }
      throw quotaExceeded("cpuSecondsPerMinute", `this token used its ${this.limits.cpuSecondsPerMinute} CPU seconds of the last minute`, at - this.now());
    }
    usage.running++;
    let ended = false;
    return {
      cpuBudgetMs: Math.max(1, Math.floor(budgetMs - spent)),
      end: (cpuMs) => {
        if (ended) return;
        ended = true;
        usage.running--;
        if (cpuMs > 0) usage.cpu.push({ at: this.now(), ms: cpuMs });
      },
    };
  }

  /** Throws 429 when a token at its session quota asks for another; `retryAfterMs`: when its first idle session expires. */
  admitSession(owner: string, open: number, retryAfterMs: number): void {
    if (open >= this.limits.sessions) {
      throw quotaExceeded("sessions", `this token already has ${open} sessions open (the quota is ${this.limits.sessions})`, retryAfterMs);
    }
  }
}
