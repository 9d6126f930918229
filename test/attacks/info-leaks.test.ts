// What the guest can learn about the host: only what it was given. No host
// path, environment variable, user name, time zone or inode number leaks in.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { startGuest, type Guest } from "../helpers/engine.js";

const ENV = { HOME: "/home/user", LANG: "C.UTF-8", GREETING: "hello" };
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** Host paths that must never appear in what the guest sees. */
const HOST_PATHS = [...new Set([REPO, process.cwd(), os.homedir(), "/work", process.execPath, os.tmpdir() === "/tmp" ? null : os.tmpdir()])]
  .filter((p): p is string => p !== null && p !== "/" && p !== "");

let g: Guest;

before(() => {
  g = startGuest({ env: ENV });
  g.value("import os, sys, time, json, traceback, sysconfig");
});

function leaks(text: string): string[] {
  return HOST_PATHS.filter((hostPath) => text.includes(hostPath));
}

test("what the guest sees of its system holds no host environment, host path, host name or host time zone", () => {
  const seen = g.value(`import platform
{
  "environ": dict(os.environ), "listdir('/')": sorted(os.listdir('/')), "getcwd": os.getcwd(),
  "sys.path": sys.path, "sys.prefix": sys.prefix, "sys.exec_prefix": sys.exec_prefix,
  "sys.executable": sys.executable, "sys.argv": sys.argv, "sys.platform": sys.platform,
  "tzname": list(time.tzname), "os.__file__": os.__file__, "getpid": os.getpid(), "node": platform.node(),
  "listdir('/dev')": sorted(os.listdir('/dev')), "listdir('/usr/local')": sorted(os.listdir('/usr/local')),
}`) as Record<string, unknown>;
  const text = JSON.stringify(seen);
  assert.deepEqual(seen.environ, ENV);
  // Values short enough to occur by chance ("1", "C.UTF-8", "/tmp") prove nothing; longer ones must be absent.
  const hostValues = Object.values(process.env).filter((value): value is string => value !== undefined && value.length >= 8 && !Object.values(ENV).includes(value));
  assert.deepEqual(hostValues.filter((value) => text.includes(value)), [], "host environment values");
  assert.deepEqual(leaks(text), [], "host paths");
  assert.notEqual(seen.node, os.hostname(), "the host's name");
  if (os.hostname().length >= 4) assert.ok(!text.includes(os.hostname()), "the host's name");
  assert.deepEqual(seen.tzname, ["UTC", "UTC"]);
  const hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (hostZone !== "UTC") assert.ok(!text.includes(hostZone), `the host's time zone ${hostZone}`);
});

test("os.environ holds exactly the environment given, nothing of the host's", () => {
  assert.deepEqual(g.value("dict(os.environ)"), ENV);
});

test("the root directory is exactly the sandbox skeleton", () => {
  assert.deepEqual(g.value("sorted(os.listdir('/'))"), ["dev", "home", "tmp", "usr"]);
});

test("a mount adds exactly its own name to the root directory", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pyvisor-leak-"));
  try {
    const mounted = startGuest({ mounts: [{ hostPath: dir, guestPath: "/data", readonly: true }] });
    assert.deepEqual(mounted.value("import os\nsorted(os.listdir('/'))"), ["data", "dev", "home", "tmp", "usr"]);
    mounted.kernel.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("/dev holds only the sandbox's devices", () => {
  assert.deepEqual(g.value("sorted(os.listdir('/dev'))"), ["null", "random", "urandom", "zero"]);
});

test("/etc/passwd does not exist", () => {
  assert.equal(g.value("try:\n    open('/etc/passwd')\n    r = 'opened'\nexcept Exception as e:\n    r = type(e).__name__\nr"), "FileNotFoundError");
});

test("/proc does not exist", () => {
  assert.equal(g.value("os.path.exists('/proc/self/environ')"), false);
});

test("the time zone is UTC whatever the host's", () => {
  assert.deepEqual(g.value("(list(time.tzname), time.timezone, time.localtime(0).tm_hour)"), [["UTC", "UTC"], 0, 0]);
});

test("sys.executable is the sandbox's python, not the host's", () => {
  assert.equal(g.value("sys.executable"), "/usr/local/bin/python3");
});

test("os.getcwd() is the sandbox working directory", () => {
  assert.equal(g.value("os.getcwd()"), "/home/user");
});

test("sys.path and the prefixes hold no host path", () => {
  const text = JSON.stringify(g.value("[sys.path, sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, sys.platlibdir]"));
  assert.deepEqual(leaks(text), [], text);
});

test("stdlib modules' __file__ hold no host path", () => {
  const files = g.value("import json, _pyvisor, pyvisor, collections\n[os.__file__, json.__file__, _pyvisor.__file__, pyvisor.__file__, collections.__file__]") as string[];
  assert.deepEqual(leaks(files.join("\n")), [], files.join("\n"));
  for (const file of files) assert.ok(file.startsWith("/usr/local/lib/python3.13/"), file);
});

test("a traceback through the stdlib holds no host path", () => {
  const result = g.run("json.loads('{')");
  assert.equal(result.error?.type, "JSONDecodeError");
  assert.match(result.error!.traceback, /\/usr\/local\/lib\/python3\.13\/json\//);
  assert.deepEqual(leaks(result.error!.traceback + result.stderr), []);
});

test("code objects of stdlib modules hold no host path", () => {
  const filenames = g.value("import json.decoder\n[json.decoder.JSONDecoder.decode.__code__.co_filename, os.path.join.__code__.co_filename]") as string[];
  assert.deepEqual(leaks(filenames.join("\n")), []);
});

test("sysconfig build variables hold no host path of the build machine", () => {
  const text = g.value("repr(sysconfig.get_config_vars())") as string;
  assert.deepEqual(leaks(text), [], "the stdlib's _sysconfigdata module records the build machine's paths");
});

test("inode numbers of mounted files are not the host's", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pyvisor-ino-"));
  try {
    fs.writeFileSync(path.join(dir, "f"), "x");
    const hostIno = fs.statSync(path.join(dir, "f")).ino;
    const mounted = startGuest({ mounts: [{ hostPath: dir, guestPath: "/data", readonly: true }] });
    assert.notEqual(mounted.value("import os\nos.stat('/data/f').st_ino"), hostIno);
    mounted.kernel.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the program name is not the host's", () => {
  const text = JSON.stringify(g.value("[sys.argv, sys.orig_argv, getattr(sys, '_base_executable', None)]"));
  assert.deepEqual(leaks(text), [], text);
});
