// threading locks in the engine built without threads (engine/patches/0004):
// no other thread can release a held lock, so acquiring it with a timeout
// sleeps the timeout and fails, and acquiring it with none raises at once,
// where the pthread stubs' wait used to spin until the run's time limit.
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

test("acquiring a held threading.Lock with no timeout raises RuntimeError at once instead of spinning until the time limit", () => {
  const result = guest.run(`
import threading
l = threading.Lock()
l.acquire()
l.acquire()`, { timeoutMs: 10_000 });
  assert.equal(result.stopReason ?? null, null, `the run was stopped (${result.stopReason}) instead of failing`);
  assert.equal(result.error?.type, "RuntimeError");
  assert.match(result.error!.message, /deadlock.*single thread/);
});

test("a timed acquire of a held threading.Lock returns False after its timeout, the fixed clock moving by exactly that much", () => {
  const result = fixedClock.run(`
import threading, time
l = threading.Lock()
l.acquire()
start = time.monotonic()
got = l.acquire(timeout=0.2)
(got, round(time.monotonic() - start, 3), l.acquire(False), l.locked())`, { timeoutMs: 10_000 });
  assert.equal(result.stopReason ?? null, null, `the run was stopped (${result.stopReason})`);
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, [false, 0.2, false, true]);
});

test("a timed acquire of a held threading.Lock waits its timeout on the real clock, then the lock works as before", () => {
  const result = guest.run(`
import threading, time
l = threading.Lock()
l.acquire()
start = time.monotonic()
got = l.acquire(timeout=0.2)
waited = time.monotonic() - start
l.release()
(got, waited >= 0.19, l.acquire(timeout=5), l.locked())`, { timeoutMs: 10_000 });
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, [false, true, true, true]);
});

test("an RLock is still reentrant for its one thread, and released fully it is free again", () => {
  const result = guest.run(`
import threading
r = threading.RLock()
depth = [r.acquire(), r.acquire(), r.acquire(timeout=1), r.acquire(False)]
for _ in depth:
    r.release()
try:
    r.release()
    over_release = None
except RuntimeError as e:
    over_release = 'RuntimeError'
with r:
    with r:
        nested = True
(depth, over_release, nested, r.acquire(timeout=1))`, { timeoutMs: 10_000 });
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, [[true, true, true, true], "RuntimeError", true, true]);
});
