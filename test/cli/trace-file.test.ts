// `--trace FILE` driven through `node bin/pyvisor.js` as a user would, against
// a guest that wants the trace to land somewhere else: the CLI must never
// write through a name the guest can change (a file in a read-write mount, a
// symlink), and what the guest puts in the trace stays one JSON line per entry.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, pyvisor } from "./helpers.js";

/** The engine in the pyvisor process (inline): no worker process to start per test. The default, process, has tests of its own. */
const T: string[] = ["--isolation", "inline"];
const VICTIM_TEXT = "# the user's shell rc file\n";
let base: string;
let count = 0;

before(() => {
  base = mkdtempSync(join(tmpdir(), "pyvisor-trace-"));
});
after(() => {
  rmSync(base, { recursive: true, force: true });
});

/** A fresh directory for one test: `mount` (to be mounted read-write), `out` (never mounted), and a victim file outside both. */
function layout(): { mount: string; out: string; victim: string; cwd: string } {
  const cwd = join(base, `t${++count}`);
  const mount = join(cwd, "mount");
  const out = join(cwd, "out");
  mkdirSync(mount, { recursive: true });
  mkdirSync(out);
  const victim = join(cwd, "bashrc");
  writeFileSync(victim, VICTIM_TEXT);
  return { mount, out, victim, cwd };
}

/** Each line of a trace file, parsed; fails unless every line is one JSON object with a call name. */
function traceEntries(file: string): Array<{ call: string; path?: string; result: string }> {
  const text = readFileSync(file, "utf8");
  assert.ok(text.endsWith("\n"), "the trace ends with a newline");
  return text.slice(0, -1).split("\n").map((line) => {
    const entry = JSON.parse(line) as { call: string; path?: string; result: string };
    assert.equal(typeof entry.call, "string", line);
    return entry;
  });
}

function assertUsage(r: { status: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^pyvisor: --trace: /);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, `one line: ${r.stderr}`);
}

describe("--trace and a read-write mount", () => {
  test("a guest that swaps the trace file in its rw mount for a symlink cannot make the CLI append to the victim", () => {
    const { mount, victim, cwd } = layout();
    // The guest replaces the trace file with a symlink to the victim, then
    // puts a shell command in a traced path (the attack on the old CLI, which
    // appended the trace by path after the run).
    const code = [
      "import os",
      "try: os.remove('/w/trace.jsonl')",
      "except OSError: pass",
      `os.symlink(${JSON.stringify(victim)}, '/w/trace.jsonl')`,
      "try: open('/nope\\n$(touch PWNED)\\n')",
      "except OSError: pass",
    ].join("\n");
    const r = pyvisor([...T, "--mount", "mount:/w:rw", "--trace", "mount/trace.jsonl", "-c", code], { cwd });
    assert.equal(readFileSync(victim, "utf8"), VICTIM_TEXT, "the victim file is unchanged");
    assertUsage(r, /inside the read-write mount/);
    assert.equal(existsSync(join(mount, "trace.jsonl")), false, "nothing was created in the mount");
  });

  test("a trace under --tmp DIR is refused: /tmp is a read-write mount too", () => {
    const { mount, cwd } = layout();
    assertUsage(pyvisor([...T, "--tmp", mount, "--trace", join(mount, "sub", "..", "t.jsonl"), "-c", "1"], { cwd }), /inside the read-write mount/);
    assert.deepEqual(readdirSync(mount), []);
  });

  test("a trace in a directory of the rw mount whose name starts with '..' is refused too", () => {
    const { mount, cwd } = layout();
    mkdirSync(join(mount, "..dots"));
    assertUsage(pyvisor([...T, "--mount", `${mount}:/w:rw`, "--trace", join(mount, "..dots", "t.jsonl"), "-c", "1"], { cwd }), /inside the read-write mount/);
  });

  test("a trace reached through a symlinked ancestor into the rw mount is refused (compared by real path)", () => {
    const { mount, out, cwd } = layout();
    mkdirSync(join(mount, "sub"));
    symlinkSync(mount, join(out, "into-mount"));
    assertUsage(pyvisor([...T, "--mount", `${mount}:/w:rw`, "--trace", join(out, "into-mount", "sub", "t.jsonl"), "-c", "1"], { cwd }), /inside the read-write mount/);
    assert.deepEqual(readdirSync(join(mount, "sub")), []);
  });

  test("a trace beside a read-only mount, or outside the rw mount, is written while the guest rewrites its mount", () => {
    const { mount, out, cwd } = layout();
    const code = "import os\nos.mkdir('/w/d')\nopen('/w/d/f', 'w').write('x')\nos.rename('/w/d', '/w/e')";
    const r = pyvisor([...T, "--mount", `${mount}:/w:rw`, "--mount", `${out}:/ro`, "--trace", join(out, "trace.jsonl"), "-c", code], { cwd });
    assert.equal(r.status, 0, r.stderr);
    const entries = traceEntries(join(out, "trace.jsonl"));
    assert.ok(entries.some((e) => e.call === "path_rename" && e.path === "/w/e" && e.result === "SUCCESS"), "the guest's rename is traced");
    assert.equal(readFileSync(join(mount, "e", "f"), "utf8"), "x");
  });
});

describe("--trace and what is already at FILE", () => {
  test("an existing symlink at the trace path is refused and its target left alone", () => {
    const { out, victim, cwd } = layout();
    symlinkSync(victim, join(out, "trace.jsonl"));
    assertUsage(pyvisor([...T, "--trace", join(out, "trace.jsonl"), "-c", "1"], { cwd }), /symlink/);
    assert.equal(readFileSync(victim, "utf8"), VICTIM_TEXT);
    assert.ok(lstatSync(join(out, "trace.jsonl")).isSymbolicLink());
  });

  test("a dangling symlink at the trace path is refused, not followed to create its target", () => {
    const { out, cwd } = layout();
    symlinkSync(join(out, "created-through-link"), join(out, "trace.jsonl"));
    assertUsage(pyvisor([...T, "--trace", join(out, "trace.jsonl"), "-c", "1"], { cwd }), /symlink/);
    assert.equal(existsSync(join(out, "created-through-link")), false);
  });

  test("a trace whose parent directory is a symlink is refused", () => {
    const { out, cwd } = layout();
    symlinkSync(out, join(cwd, "link-dir"));
    assertUsage(pyvisor([...T, "--trace", join(cwd, "link-dir", "t.jsonl"), "-c", "1"], { cwd }), /symlink/);
    assert.deepEqual(readdirSync(out), []);
  });

  test("an existing regular file is truncated and rewritten, not appended to", () => {
    const { out, cwd } = layout();
    const file = join(out, "trace.jsonl");
    writeFileSync(file, "old contents that are not JSON\n");
    const r = pyvisor([...T, "--trace", file, "-c", "1"], { cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(traceEntries(file).length > 0);
  });

  test("an existing file with another hard link is refused: truncating it would change the other name", () => {
    const { out, victim, cwd } = layout();
    linkSync(victim, join(out, "trace.jsonl"));
    assertUsage(pyvisor([...T, "--trace", join(out, "trace.jsonl"), "-c", "1"], { cwd }), /hard link/);
    assert.equal(readFileSync(victim, "utf8"), VICTIM_TEXT);
  });

  test("a directory at the trace path is refused", () => {
    const { out, cwd } = layout();
    mkdirSync(join(out, "d"));
    assertUsage(pyvisor([...T, "--trace", join(out, "d"), "-c", "1"], { cwd }), /it is a directory/);
  });

  test("a FIFO at the trace path is refused without blocking on it", () => {
    const { out, cwd } = layout();
    assert.equal(spawnSync("mkfifo", [join(out, "fifo")]).status, 0, "mkfifo");
    assertUsage(pyvisor([...T, "--trace", join(out, "fifo"), "-c", "1"], { cwd, timeoutMs: 20_000 }), /cannot write \(not a regular file\)/);
  });

  test("--trace /dev/fd/N writes to an fd the caller opened", () => {
    const { out, cwd } = layout();
    const file = join(out, "fd3.jsonl");
    const fd = openSync(file, "w");
    try {
      const r = spawnSync(process.execPath, [BIN, ...T, "--trace", "/dev/fd/3", "-c", "open('/etc/passwd')"], { cwd, stdio: ["ignore", "pipe", "pipe", fd], encoding: "utf8", timeout: 60_000 });
      assert.equal(r.status, 1, r.stderr);
    } finally {
      closeSync(fd);
    }
    assert.ok(traceEntries(file).some((e) => e.call === "path_open" && e.path === "/etc/passwd" && e.result === "ENOENT"));
  });
});

describe("what the guest puts in the trace", () => {
  test("hostile path text (newlines, quotes, $(...), U+2028, NEL, invalid UTF-8) stays one JSON line per entry", () => {
    const { out, cwd } = layout();
    const file = join(out, "trace.jsonl");
    const hostile = '/tmp/a\nb"c\\d$(touch PWNED)`id`\r\u2028\u2029\u0085\u001b[31m';
    const code = [
      "import os",
      `for p in (${JSON.stringify(hostile)}, b'/tmp/\\xff\\xfe$(touch PWNED)\\n'):`,
      "    try: open(p, 'rb')",
      "    except OSError: pass",
    ].join("\n");
    const r = pyvisor([...T, "--trace", file, "-c", code], { cwd });
    assert.equal(r.status, 0, r.stderr);
    const text = readFileSync(file, "utf8");
    assert.match(text, /^[\x20-\x7e\n]*$/, "the trace is printable ASCII and newlines only");
    const entries = traceEntries(file);
    assert.equal(entries.length, text.split("\n").length - 1, "one entry per line");
    const opens = entries.filter((e) => e.call === "path_open" && e.result === "ENOENT" && e.path?.startsWith("/tmp/a"));
    assert.deepEqual(opens.map((e) => e.path), [hostile], "the hostile path round-trips exactly");
    assert.ok(entries.some((e) => e.call === "path_open" && e.result === "EILSEQ"), "the invalid UTF-8 path is an EILSEQ entry");
    assert.equal(existsSync(join(cwd, "PWNED")), false);
  });
});
