// Runs the pyvisor command as a user would: `node bin/pyvisor.js ...` in a child process.
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root (this file is compiled to dist/test/cli/). */
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const BIN = fileURLToPath(new URL("../../../bin/pyvisor.js", import.meta.url));

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function pyvisor(args: string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliRun {
  const start = performance.now();
  const result = spawnSync(process.execPath, [BIN, ...args], {
    input: options.input ?? "",
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr, ms: performance.now() - start };
}

/** Far beyond any run of these tests on a loaded machine; only a hang reaches it. */
export const HANG_MS = 60_000;

/**
 * Runs pyvisor with `args` until its program prints "ready"; then lists the
 * CLI's child processes (pgrep -P) and waits for its exit.
 */
export async function childrenWhileRunning(args: string[]): Promise<{ children: number[]; status: number | null; stdout: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
  let stdout = "";
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  await new Promise<void>((ready, failed) => {
    const timer = setTimeout(() => failed(new Error(`no "ready" after ${HANG_MS} ms`)), HANG_MS);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("ready")) {
        clearTimeout(timer);
        ready();
      }
    });
  });
  const listed = spawnSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" }).stdout.trim();
  const status = await exited;
  return { children: listed === "" ? [] : listed.split("\n").map(Number), status, stdout };
}
