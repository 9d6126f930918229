// More of what the guest must not learn about the host: its name, user, pid,
// CPU count, environment and time zone (also through worker processes, which
// inherit the host's environment), host paths of mounted files, and the host's
// clock when the sandbox is deterministic. info-leaks.test.ts has the basics.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Pool, Sandbox } from "../../src/api/index.js";
import { leakedHostPaths, sharedGuest, tempDir } from "./helpers.js";
import { startGuest } from "../helpers/engine.js";

const mountDir = tempDir("leak-mount");
fs.writeFileSync(path.join(mountDir, "boom.py"), "def boom():\n    raise ValueError('from the mount')\n");
const guest = sharedGuest({ mounts: [{ hostPath: mountDir, guestPath: "/data", readonly: true }] });

/** Host environment names set before the pools start, which worker processes would inherit. */
const HOST_SECRET = "PYVISOR_ATTACK_HOST_SECRET";
let processPool: Pool;
let savedTz: string | undefined;

before(() => {
  process.env[HOST_SECRET] = "host-only";
  savedTz = process.env.TZ;
  process.env.TZ = "Asia/Tokyo";
  processPool = new Pool({ size: 1, isolation: "process" });
});
after(async () => {
  await processPool.close({ force: true });
  delete process.env[HOST_SECRET];
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

test("the host name is not the guest's node name", () => {
  const [sysname, nodename] = guest().value("import os\nlist(os.uname())[:2]") as string[];
  assert.equal(sysname, "wasi");
  assert.notEqual(nodename, os.hostname());
});

test("platform.node() and platform.platform() do not name the host", () => {
  const text = JSON.stringify(guest().value("import platform\n[platform.node(), platform.platform(), platform.machine()]"));
  assert.ok(!text.includes(os.hostname()), text);
  assert.ok(!text.includes(os.release()), text);
});

test("socket.gethostname gives the sandbox's fixed node name, not the host's", () => {
  assert.deepEqual(guest().value("import socket, os\n(socket.gethostname(), os.uname().nodename)"), ["(none)", "(none)"]);
  assert.notEqual(os.hostname(), "(none)");
});

test("the guest's pid is not the host's", () => {
  assert.notEqual(guest().value("os.getpid()"), process.pid);
});

test("the guest's CPU count is a fixed 1, not the host's", () => {
  assert.equal(guest().value("os.cpu_count()"), 1);
});

test("the host user's name is not the guest's", () => {
  const got = guest().value("import getpass\ntries(getpass.getuser)");
  assert.notEqual(got, os.userInfo().username);
});

test("files are owned by uid 0 in the guest, not by the host user", () => {
  assert.deepEqual(guest().value("st = os.stat('/data/boom.py')\n[st.st_uid, st.st_gid]"), [0, 0]);
});

test("the device number of a mounted file is not the host's", () => {
  assert.notEqual(guest().value("os.stat('/data/boom.py').st_dev"), fs.statSync(path.join(mountDir, "boom.py")).dev);
});

test("a traceback through a mounted module names its guest path, never its host path", () => {
  const result = guest().run("sys.path.insert(0, '/data')\nimport boom\nboom.boom()");
  assert.equal(result.error?.type, "ValueError");
  assert.match(result.error!.traceback, /"\/data\/boom\.py"/);
  assert.ok(!result.error!.traceback.includes(mountDir));
});

test("a mounted module's __file__ and co_filename are guest paths", () => {
  const text = JSON.stringify(guest().value("import boom\n[boom.__file__, boom.boom.__code__.co_filename]"));
  assert.ok(!text.includes(mountDir), text);
  assert.deepEqual(leakedHostPaths(text), []);
});

test("tempfile and expanduser give sandbox paths", () => {
  assert.deepEqual(guest().value("import tempfile\n[tempfile.gettempdir(), os.path.expanduser('~')]"), ["/tmp", "/home/user"]);
});

test("time.monotonic() starts near zero instead of showing the host's uptime", () => {
  const monotonic = guest().value("import time\ntime.monotonic()") as number;
  assert.ok(monotonic < 600 || monotonic < os.uptime() - 600, `monotonic ${monotonic}, host uptime ${os.uptime()}`);
});

test("the host's environment does not reach the guest of a worker process (which inherits it)", async () => {
  await using sb = await Sandbox.create({ pool: processPool });
  const result = await sb.run(`import os\n[k for k in os.environ if k == '${HOST_SECRET}' or os.environ[k] == 'host-only']`);
  assert.deepEqual(result.value, []);
});

test("the host's TZ (Asia/Tokyo) does not reach the guest of a worker process", async () => {
  await using sb = await Sandbox.create({ pool: processPool });
  const result = await sb.run("import time\n[list(time.tzname), time.timezone, time.localtime(0).tm_hour]");
  assert.deepEqual(result.value, [["UTC", "UTC"], 0, 0]);
});

test("the worker process's cwd and argv do not reach the guest", async () => {
  await using sb = await Sandbox.create({ pool: processPool });
  const result = await sb.run("import os, sys\n[os.getcwd(), sys.argv, sys.orig_argv, sys.executable]");
  assert.deepEqual(leakedHostPaths(JSON.stringify(result.value)), []);
});

test("deterministic mode shows the fixed clock, not the host's", () => {
  const g = startGuest({ deterministic: true });
  try {
    const [now, year] = g.value("import time, datetime\n[time.time(), datetime.datetime.now().year]") as [number, number];
    assert.ok(now < 946_684_800 + 3600, String(now));
    assert.equal(year, 2000);
  } finally {
    g.kernel.dispose();
  }
});

test("deterministic mode stamps new in-memory files with the fixed clock, not the host's", () => {
  const g = startGuest({ deterministic: true });
  try {
    const times = g.value("import os\nopen('/tmp/x', 'w').close()\nst = os.stat('/tmp/x')\n[st.st_mtime, st.st_ctime, st.st_atime, os.stat('/tmp').st_mtime]") as number[];
    for (const t of times) assert.ok(t < 946_684_800 + 3600, String(t));
  } finally {
    g.kernel.dispose();
  }
});

test("deterministic mode's monotonic and CPU clocks are fixed too", () => {
  const read = () => {
    const g = startGuest({ deterministic: true });
    try {
      return g.value("import time\n[time.monotonic(), time.perf_counter(), time.process_time()]");
    } finally {
      g.kernel.dispose();
    }
  };
  assert.deepEqual(read(), read());
});

test("sysconfig's paths are sandbox paths", () => {
  const text = JSON.stringify(guest().value("import sysconfig\nsysconfig.get_paths()"));
  assert.deepEqual(leakedHostPaths(text), []);
  assert.ok(!text.includes(os.homedir()), text);
});
