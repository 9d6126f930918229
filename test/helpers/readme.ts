// The README's API examples, read from README.md (never copied), for the tests
// that run them: against the built tree (e2e/readme) and as installed from the
// packed tarball (e2e/package).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(fileURLToPath(import.meta.url), "..", "..", "..", "..");

/** The ```ts blocks of the README's "## API" section (up to the next "## " heading). */
export function apiBlocks(): string[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const start = readme.indexOf("\n## API\n");
  assert.ok(start >= 0, "README.md has an API section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
}

/** What the examples take as given. */
export const PRELUDE = `
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
const db = new Map([["k", "v"]]);
const datasetsDir = mkdtempSync(join(tmpdir(), "pyvisor-readme-"));
process.on("exit", () => rmSync(datasetsDir, { recursive: true, force: true }));
`;

