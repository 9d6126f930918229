#!/usr/bin/env node
// The pyvisor command (see docs/cli.md). The CLI itself is TypeScript, compiled
// to dist/ by `npm run build`.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  process.stderr.write(`pyvisor: not built yet (${fileURLToPath(entry)} is missing): run \`npm run build\` in ${root}\n`);
  process.exit(1);
}
const args = process.argv.slice(2);
if (wantsWorkerProcess(args)) {
  // The worker process starts while the CLI loads (src/pool/prestart.ts): the two starts overlap.
  const { startEarlyWorkerProcess } = await import(new URL("../dist/src/pool/prestart.js", import.meta.url).href);
  startEarlyWorkerProcess();
}
const { main } = await import(entry.href);
process.exit(await main(args));

/**
 * Whether the command line will likely run Python in a worker process (the
 * default --isolation): a guess from the words alone, before the CLI parses
 * them; a wrong guess costs one process started for nothing, or no head start.
 */
function wantsWorkerProcess(argv) {
  // src/cli/args.ts SERVICE_COMMANDS (not imported: it loads the whole API before the fork); a test keeps the two equal.
  if (["serve", "mcp", "worker"].includes(argv[0])) return false;
  let isolation = process.env.PYVISOR_ISOLATION ?? "process";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--" || arg === "-c" || arg === "-m" || (!arg.startsWith("-") && arg !== "")) break; // the program and its own arguments
    if (arg === "-h" || arg === "--help" || arg === "-V" || arg === "--version") return false;
    if (arg === "--isolation") isolation = argv[i + 1] ?? "";
    else if (arg.startsWith("--isolation=")) isolation = arg.slice("--isolation=".length);
  }
  return isolation === "process";
}
