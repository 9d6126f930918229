// The CLI restores its interpreter from an on-disk snapshot cache. A guest
// whose read-write mount holds that cache could plant the interpreter later
// runs start from, so the CLI does not use the cache then.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pyvisor } from "./helpers.js";

let home: string;
before(() => {
  home = mkdtempSync(join(tmpdir(), "pyvisor-cache-home-"));
});
after(() => rmSync(home, { recursive: true, force: true }));

function run(args: string[], cacheHome: string) {
  const env = { ...process.env, XDG_CACHE_HOME: cacheHome, PYVISOR_SNAPSHOT_CACHE: "" };
  return pyvisor([...args, "-c", "print('ran')"], { env });
}

test("a read-write mount that holds the snapshot cache makes the CLI run without it", () => {
  const cacheHome = join(home, "cache");
  mkdirSync(cacheHome);
  const result = run(["--mount", `${home}:/home/user/h:rw`], cacheHome);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, "ran\n");
  assert.equal(existsSync(join(cacheHome, "pyvisor")), false, "the cache was written inside the guest's read-write mount");
});

test("a read-only mount of the same directory keeps the cache", () => {
  const cacheHome = join(home, "cache-ro");
  mkdirSync(cacheHome);
  const result = run(["--mount", `${home}:/home/user/h:ro`], cacheHome);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(existsSync(join(cacheHome, "pyvisor")), true, "the CLI should use its cache when the guest cannot write it");
});
