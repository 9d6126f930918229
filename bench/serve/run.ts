// A bounded load test of `pyvisor serve` on loopback (`npm run bench:serve`),
// driven by autocannon (a devDependency). Each configuration is real
// processes: `pyvisor serve` with its own pool of one, then `serve --queue`
// on a redis-server with one and with three `pyvisor worker` hosts (a pool of
// one each). Each program runs a fixed number of requests (so every one is
// accounted for) over C connections, with a deadline. Each request prints its
// own id, so every answer is checked to belong to its request: no run lost,
// none answered twice or with another's output. Prints runs/s, p50/p99
// latency, the load average beside them, and each process's RSS at the end.
//   --runs N (print(1); default 200)   --compute-runs N (50 ms compute; default 60)
//   --connections C (default 8)   --deadline S (per program, default 120)
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const CONNECTIONS = arg("connections", 8);
const DEADLINE_S = arg("deadline", 120);
const TOKEN = "bench";
const BIN = fileURLToPath(new URL("../../../bin/pyvisor.js", import.meta.url));

const PROGRAMS: Array<{ name: string; runs: number; code: (id: number) => string }> = [
  { name: "print(1)", runs: arg("runs", 200), code: (id) => `print(${id})` },
  { name: "50 ms compute", runs: arg("compute-runs", 60), code: (id) => `import time\nt = time.perf_counter()\nwhile time.perf_counter() - t < 0.05: pass\nprint(${id})` },
];

/** The part of autocannon used here (it ships no types; loaded by name so that the build does not need it). */
interface Cannon {
  (options: object): { stop(): void } & PromiseLike<CannonResult>;
}
interface CannonResult {
  duration: number;
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

async function loadCannon(): Promise<Cannon> {
  const name = "autocannon";
  try {
    return ((await import(name)) as { default: Cannon }).default;
  } catch {
    console.error("bench:serve needs autocannon, a devDependency: npm install");
    process.exit(2);
  }
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function started(child: ChildProcess, stream: "stdout" | "stderr", pattern: RegExp): Promise<string> {
  let text = "";
  child[stream]!.setEncoding("utf8");
  for (;;) {
    const match = pattern.exec(text);
    if (match) return match[1] ?? match[0];
    if (child.exitCode !== null) throw new Error(`exited before starting: ${text}`);
    const [chunk] = await once(child[stream]!, "data");
    text += chunk;
  }
}

interface Proc {
  label: string;
  child: ChildProcess;
}

function pyvisor(args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: { ...process.env, PYVISOR_TOKEN: TOKEN }, stdio: ["ignore", "ignore", "pipe"] });
}

/** RSS of a process and of its descendants (a pool's engine processes), in MiB. */
function rss(pid: number): { own: number; children: number; count: number } {
  const table = spawnSync("ps", ["-e", "-o", "pid=,ppid=,rss="], { encoding: "utf8" }).stdout.trim().split("\n").map((line) => line.trim().split(/\s+/).map(Number));
  const kib = new Map(table.map(([p, , r]) => [p!, r!]));
  let children = 0;
  let count = 0;
  const walk = (parent: number) => {
    for (const [p, pp] of table) {
      if (pp !== parent) continue;
      children += kib.get(p!) ?? 0;
      count++;
      walk(p!);
    }
  };
  walk(pid);
  return { own: (kib.get(pid) ?? 0) / 1024, children: children / 1024, count };
}

async function stopAll(procs: Proc[]): Promise<void> {
  for (const { child } of [...procs].reverse()) {
    if (child.exitCode !== null) continue;
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}

const uptime = () => loadavg().map((n) => n.toFixed(1)).join(", ");

async function load(cannon: Cannon, url: string, program: (typeof PROGRAMS)[number]): Promise<void> {
  let next = 0;
  const answered = new Map<number, number>();
  let wrong = 0;
  const instance = cannon({
    url, connections: CONNECTIONS, amount: program.runs, timeout: DEADLINE_S,
    requests: [{
      method: "POST", path: "/v1/run", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      setupRequest: (request: { body?: string }, context: { id?: number }) => {
        context.id = next++;
        request.body = JSON.stringify({ code: program.code(context.id) });
        return request;
      },
      onResponse: (status: number, body: string, context: { id: number }) => {
        answered.set(context.id, (answered.get(context.id) ?? 0) + 1);
        let stdout: unknown;
        try {
          stdout = (JSON.parse(body) as { stdout?: unknown }).stdout;
        } catch { /* counted as wrong below */ }
        if (status !== 200 || stdout !== `${context.id}\n`) wrong++;
      },
    }],
  });
  const deadline = setTimeout(() => instance.stop(), DEADLINE_S * 1000);
  const result = await instance;
  clearTimeout(deadline);
  const twice = [...answered.values()].filter((n) => n > 1).length;
  const lost = next - answered.size;
  const ok = answered.size - wrong;
  console.log(
    `  ${program.name.padEnd(14)} ${(ok / result.duration).toFixed(1).padStart(6)} runs/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms` +
    `  (${next} sent, ${ok} answered right, ${lost} lost, ${twice} twice, ${wrong} wrong, ${result.errors} errors; load average ${uptime()})`,
  );
  if (lost > 0 || twice > 0 || wrong > 0) process.exitCode = 1;
}

/** A few runs on every worker first, so that engine start-up is not measured. */
async function warm(url: string, n: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, () => fetch(`${url}/v1/run`, {
    method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ code: "print(0)" }),
  }).then((r) => r.arrayBuffer())));
}

async function configuration(cannon: Cannon, label: string, hosts: number): Promise<void> {
  const procs: Proc[] = [];
  const serveArgs = ["serve", "--port", String(await freePort()), "--max-runs", String(CONNECTIONS * 2), "--cpu-per-minute", "100000"];
  try {
    if (hosts > 0) {
      const port = await freePort();
      const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "ignore"] });
      procs.push({ label: "redis-server", child: redis });
      await started(redis, "stdout", /Ready to accept connections/);
      serveArgs.push("--queue", `redis://127.0.0.1:${port}`);
      for (let i = 0; i < hosts; i++) {
        const worker = pyvisor(["worker", "--queue", `redis://127.0.0.1:${port}`, "--pool-size", "1"]);
        procs.push({ label: `worker host ${i + 1}`, child: worker });
        await started(worker, "stderr", /draining/);
      }
    } else {
      serveArgs.push("--pool-size", "1");
    }
    const front = pyvisor(serveArgs);
    procs.push({ label: hosts > 0 ? "front end (serve --queue)" : "serve", child: front });
    const url = await started(front, "stderr", /listening on (\S+)/);
    console.log(`${label}: ${CONNECTIONS} connections`);
    await warm(url, Math.max(4, hosts * 4));
    for (const program of PROGRAMS) await load(cannon, url, program);
    console.log(`  RSS at the end: ${procs.map(({ label: name, child }) => {
      const { own, children, count } = rss(child.pid!);
      return `${name} ${own.toFixed(0)} MiB${count > 0 ? ` (+ ${count} engine process${count > 1 ? "es" : ""} ${children.toFixed(0)} MiB)` : ""}`;
    }).join("; ")}`);
  } finally {
    await stopAll(procs);
  }
}

const cannon = await loadCannon();
console.log(`bench:serve on loopback; load average at start ${uptime()} (a shared machine: figures move with its load)`);
await configuration(cannon, "serve, pool of 1 (no queue)", 0);
await configuration(cannon, "serve --queue, 1 worker host (pool of 1)", 1);
await configuration(cannon, "serve --queue, 3 worker hosts (pool of 1 each)", 3);
