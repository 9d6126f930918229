// Differences from native CPython that CPython's own test suite found
// (npm run conformance), each fixed in the driver or the VFS: the sandbox
// answers as a single-threaded Linux process without network would.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startGuest, type Guest } from "../helpers/engine.js";

let guest: Guest;
let fixedClock: Guest;

before(() => {
  guest = startGuest();
  fixedClock = startGuest({ deterministic: true });
});
after(() => {
  guest.kernel.dispose();
  fixedClock.kernel.dispose();
});

test("a threading wait that no other thread can end raises RuntimeError instead of spinning until the time limit", () => {
  // test_asyncio.test_tasks hung here: run_in_executor's serial fallback ran code that waited on a concurrent future.
  const result = guest.run(`
import threading
c = threading.Condition()
with c:
    c.wait()`, { timeoutMs: 10_000 });
  assert.equal(result.stopReason ?? null, null, `the run was stopped (${result.stopReason}) instead of failing`);
  assert.equal(result.error?.type, "RuntimeError");
  assert.match(result.error!.message, /deadlock.*single thread/);
});

test("a timed threading wait returns False after its timeout, the fixed clock moving by exactly that much", () => {
  const result = fixedClock.run(`
import threading, time, queue, concurrent.futures
start = time.time()
waited = threading.Event().wait(3600)
try:
    queue.Queue().get(timeout=5)
    empty = False
except queue.Empty:
    empty = True
try:
    concurrent.futures.Future().result(timeout=10)
    timed_out = False
except TimeoutError:
    timed_out = True
(waited, empty, timed_out, round(time.time() - start, 3))`, { timeoutMs: 10_000 });
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, [false, true, true, 3615]);
});

test("socket.gethostname answers with uname's node name, and resolving it fails with the no-network OSError", () => {
  // test_uuid: uuid._arp_getnode calls gethostname(), which CPython's WASI socket module lacks (AttributeError).
  assert.deepEqual(guest.value(`
import socket, os, uuid
def resolve():
    try:
        socket.gethostbyname(socket.gethostname())
    except OSError as e:
        return 'no network' in str(e)
(socket.gethostname() == os.uname().nodename, resolve(), uuid._arp_getnode())`), [true, true, null]);
});

test("the time zone data is at /usr/share/zoneinfo, where Linux keeps it, read-only", () => {
  // test_datetime's zone tests read tz files from /usr/share/zoneinfo by path.
  assert.deepEqual(guest.value(`
import errno, zoneinfo
with open('/usr/share/zoneinfo/America/New_York', 'rb') as f:
    tz = zoneinfo.ZoneInfo.from_file(f)
def write():
    try:
        open('/usr/share/zoneinfo/new', 'w')
    except OSError as e:
        return errno.errorcode[e.errno]
(tz.utcoffset(__import__('datetime').datetime(2024, 1, 1)).total_seconds(), write())`), [-18000, "EROFS"]);
});
