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
const { main } = await import(entry.href);
process.exit(await main(process.argv.slice(2)));
