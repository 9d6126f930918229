// Runs the pyvisor command as a user would: `node bin/pyvisor.js ...` in a child process.
import { spawnSync } from "node:child_process";
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
