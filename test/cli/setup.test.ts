// `pyvisor --setup FILE`: the program starts where FILE's setup ended, and
// the setup's state is kept in the snapshot cache (keyed by the engine,
// FILE's contents and the options), so a second run does not run it again.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pyvisor } from "./helpers.js";

let home: string;
before(() => {
  home = mkdtempSync(join(tmpdir(), "pyvisor-setup-"));
});
after(() => rmSync(home, { recursive: true, force: true }));

/** A setup whose state differs on every run of it: the same token twice means the second run used the cache. */
const TOKEN_SETUP = "import os, json\ntoken = os.urandom(8).hex()\n";

function run(cache: string, setup: string, extra: string[] = []) {
  const env = { ...process.env, PYVISOR_SNAPSHOT_CACHE: cache };
  return pyvisor(["--setup", setup, ...extra, "-c", "print(token, json.dumps([1]))"], { env });
}

const templates = (cache: string) => readdirSync(cache).filter((name) => name.endsWith(".tmpl"));

test("--setup runs the setup first; a second run with the same setup starts from the cached state", () => {
  const cache = join(home, "cache1");
  const setup = join(home, "setup1.py");
  writeFileSync(setup, TOKEN_SETUP);
  const first = run(cache, setup);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /^[0-9a-f]{16} \[1\]\n$/);
  assert.equal(templates(cache).length, 1, "the setup's state is cached");
  const second = run(cache, setup);
  assert.equal(second.status, 0, second.stderr);
  assert.equal(second.stdout, first.stdout, "a cache hit: the setup did not run again");
});

test("a changed setup file, or other options, miss the cache", () => {
  const cache = join(home, "cache2");
  const setup = join(home, "setup2.py");
  writeFileSync(setup, TOKEN_SETUP);
  const first = run(cache, setup);
  writeFileSync(setup, `${TOKEN_SETUP}# changed\n`);
  const changed = run(cache, setup);
  const otherMemory = run(cache, setup, ["--memory", "128M"]);
  assert.deepEqual([first.status, changed.status, otherMemory.status], [0, 0, 0], changed.stderr + otherMemory.stderr);
  assert.equal(new Set([first.stdout, changed.stdout, otherMemory.stdout]).size, 3);
  assert.equal(templates(cache).length, 3);
});

test("a cached template file that others can write is not used", () => {
  const cache = join(home, "cache3");
  const setup = join(home, "setup3.py");
  writeFileSync(setup, TOKEN_SETUP);
  const first = run(cache, setup);
  chmodSync(join(cache, templates(cache)[0]!), 0o666);
  const second = run(cache, setup);
  assert.equal(second.status, 0, second.stderr);
  assert.notEqual(second.stdout, first.stdout, "the planted file was used");
});

test("a failing --setup exits 1 with its traceback", () => {
  const setup = join(home, "bad.py");
  writeFileSync(setup, "print('loading')\nraise RuntimeError('no model here')\n");
  const result = run(join(home, "cache4"), setup);
  assert.equal(result.status, 1);
  assert.equal(result.stdout, "loading\n");
  assert.match(result.stderr, /File ".*", line 2[\s\S]*RuntimeError: no model here/);
});
