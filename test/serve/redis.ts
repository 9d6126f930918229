// A real redis-server (the Debian package) on a free loopback port, and the
// pieces the scale-out tests share: worker hosts in this process or as
// `pyvisor worker` processes, a `pyvisor serve --queue` process.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { Pool } from "../../src/api/index.js";
import { redisConnection } from "../../src/serve/queue.js";
import { QueueWorker } from "../../src/serve/queue-worker.js";
import { BIN, ROOT } from "../cli/helpers.js";
import { TOKEN } from "./helpers.js";

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Reads a child's stream until `pattern` matches; answers the match. */
export async function waitFor(child: ChildProcess, stream: "stdout" | "stderr", pattern: RegExp): Promise<RegExpExecArray> {
  let text = "";
  const source = child[stream]!;
  source.setEncoding("utf8");
  for (;;) {
    const match = pattern.exec(text);
    if (match) return match;
    if (child.exitCode !== null) throw new Error(`exited: ${text}`);
    const [chunk] = await once(source, "data");
    text += chunk;
  }
}

export interface Redis {
  url: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<Redis> {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "inherit"] });
  await waitFor(child, "stdout", /Ready to accept connections/);
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGTERM");
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

/** A worker host in this process, with fast stall detection (a 5 s lock: a loaded machine may stall it for 2). */
export async function localWorker(url: string): Promise<QueueWorker> {
  const host = new QueueWorker(redisConnection(url), new Pool({ size: 1, warmInterpreters: 1 }), { lockDurationMs: 5000, stalledIntervalMs: 1000 });
  await host.ready();
  return host;
}

export interface Child {
  process: ChildProcess;
  /** The host id a worker printed, or the URL a server listens on. */
  name: string;
  kill(): Promise<void>;
}

function child(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
}

const killer = (process: ChildProcess) => async () => {
  if (process.exitCode !== null || process.signalCode !== null) return;
  process.kill("SIGKILL");
  await once(process, "exit");
};

/** A `pyvisor worker` process (its lock, and so its liveness key, lasts 5 s: a loaded machine may stall it for 2). */
export async function workerProcess(url: string): Promise<Child> {
  const process = child(["worker", "--queue", url, "--pool-size", "1", "--lock-duration", "5"]);
  const [, host] = await waitFor(process, "stderr", /host (\S+), draining/);
  return { process, name: host!, kill: killer(process) };
}

/** A `pyvisor serve --queue` process on a free port. */
export async function serveProcess(url: string): Promise<Child> {
  const process = child(["serve", "--queue", url, "--port", String(await freePort()), "--max-runs", "16"], { ...globalThis.process.env, PYVISOR_TOKEN: TOKEN });
  const [, address] = await waitFor(process, "stderr", /listening on (\S+)/);
  return { process, name: address!, kill: killer(process) };
}
