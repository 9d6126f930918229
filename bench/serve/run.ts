// A bounded load test of `pyvisor serve` on loopback (`npm run bench:serve`):
// a closed loop of C clients for D seconds per program, against one server
// and its pool in this process. Each request prints its own id, so every
// answer is checked to belong to its request (no run lost, none answered
// twice or with another's output). Prints runs/s, p50/p99 latency and RSS.
//   --seconds D (default 8)   --concurrency C (default 4)
import { loadavg } from "node:os";
import { Pool } from "../../src/api/index.js";
import { Tokens } from "../../src/serve/auth.js";
import { buildHttp } from "../../src/serve/http.js";
import { SERVE_DEFAULTS } from "../../src/serve/main.js";
import { Service } from "../../src/serve/service.js";

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const SECONDS = arg("seconds", 8);
const CONCURRENCY = arg("concurrency", 4);
const TOKEN = "bench";

const PROGRAMS: Record<string, (id: number) => string> = {
  "print(1)": (id) => `print(${id})`,
  "50 ms compute": (id) => `import time\nt = time.perf_counter()\nwhile time.perf_counter() - t < 0.05: pass\nprint(${id})`,
};

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

async function load(url: string, program: (id: number) => string): Promise<{ runs: number; lost: number; wrong: number; latencies: number[] }> {
  const deadline = performance.now() + SECONDS * 1000;
  let next = 0;
  let lost = 0;
  let wrong = 0;
  const latencies: number[] = [];
  const answered = new Set<number>();
  const client = async () => {
    while (performance.now() < deadline) {
      const id = next++;
      const started = performance.now();
      try {
        const response = await fetch(`${url}/v1/run`, {
          method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ code: program(id) }),
        });
        const body = await response.json() as { stdout?: string };
        if (response.status !== 200 || body.stdout !== `${id}\n` || answered.has(id)) wrong++;
        answered.add(id);
        latencies.push(performance.now() - started);
      } catch {
        lost++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  lost += next - answered.size - lost;
  return { runs: answered.size, lost, wrong, latencies: latencies.sort((a, b) => a - b) };
}

const service = new Service({
  pool: new Pool(),
  quotas: { concurrentRuns: CONCURRENCY, sessions: 1, cpuSecondsPerMinute: 1e6 },
  sessionIdleMs: 60_000, maxMemoryBytes: SERVE_DEFAULTS.maxMemoryBytes, maxTimeoutMs: SERVE_DEFAULTS.maxTimeoutMs,
});
const app = buildHttp(service, { tokens: new Tokens([TOKEN]), bodyLimitBytes: SERVE_DEFAULTS.bodyLimitBytes });
const url = await app.listen({ host: "127.0.0.1", port: 0 });
console.log(`pool of ${service.pool.size}, ${CONCURRENCY} clients, ${SECONDS} s per program, load average ${loadavg()[0]!.toFixed(1)}`);
for (const [name, program] of Object.entries(PROGRAMS)) {
  const r = await load(url, program);
  console.log(`${name.padEnd(14)} ${(r.runs / SECONDS).toFixed(1)} runs/s  p50 ${percentile(r.latencies, 0.5).toFixed(0)} ms  p99 ${percentile(r.latencies, 0.99).toFixed(0)} ms  runs ${r.runs}, lost ${r.lost}, wrong ${r.wrong}`);
}
console.log(`server RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (engines are separate processes)`);
await app.close();
await service.close();
