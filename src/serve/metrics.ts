// Prometheus metrics, with prom-client (the exposition format, label escaping
// and histogram buckets done by the library everyone scrapes with). One
// registry per service, so that two services in one process do not mix.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Pool, RunResult } from "../api/index.js";

/** A run's outcome label: ok, error (the program failed), limit (a limit stopped it), crashed, cancelled. */
export function outcomeOf(result: RunResult): string {
  if (result.error === null) return result.exitCode === 0 ? "ok" : "error";
  if (result.error.crash !== undefined) return "crashed";
  if (result.error.limit !== undefined) return "limit";
  if (result.error.type === "CancelledError") return "cancelled";
  return "error";
}

export class Metrics {
  readonly registry = new Registry();
  private readonly runs: Counter<"outcome">;
  private readonly latency: Histogram;
  private readonly refused: Counter<"reason">;

  constructor(pool: Pool, openSessions: () => number) {
    const registers = [this.registry];
    this.runs = new Counter({ name: "pyvisor_runs_total", help: "Runs finished, by outcome", labelNames: ["outcome"], registers });
    this.latency = new Histogram({
      name: "pyvisor_run_duration_seconds", help: "Time from accepting a run to its result (queueing included)",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
    });
    this.refused = new Counter({ name: "pyvisor_requests_refused_total", help: "Requests refused by a quota or a limit, by reason", labelNames: ["reason"], registers });
    new Gauge({ name: "pyvisor_queue_depth", help: "Runs accepted by the pool and not finished (running or waiting)", registers, collect() { this.set(pool.pendingRuns); } });
    new Gauge({ name: "pyvisor_pool_size", help: "Engines in the pool", registers, collect() { this.set(pool.size); } });
    new Gauge({ name: "pyvisor_sessions", help: "Sessions open", registers, collect() { this.set(openSessions()); } });
  }

  ran(result: RunResult, seconds: number): void {
    this.runs.inc({ outcome: outcomeOf(result) });
    this.latency.observe(seconds);
  }

  refuse(reason: string): void {
    this.refused.inc({ reason });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
