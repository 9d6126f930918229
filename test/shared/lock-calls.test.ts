// The "lock" host call (shared/locks.ts) as the pool host serves it: every
// payload comes from a worker, where the guest runs, so anything out of
// bounds is an errno answer, never a throw into the host nor a change to its
// table, and a worker speaks only for the sandboxes it hosts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeLockAnswer, encodeLockRequest, LockOp, LockTable, LockType, MAX_KEY_BYTES, serveLockCall, TO_END, type LockRequest } from "../../src/shared/locks.js";
import { Errno } from "../../src/shared/errno.js";

const valid: LockRequest = { op: LockOp.Set, type: LockType.Write, owner: 7, start: 0n, end: TO_END, key: "host:1:2" };

/** The errno of serving `payload` in `table` for a worker that hosts sandbox 7. */
function errnoOf(table: LockTable, payload: unknown): number {
  return decodeLockAnswer(serveLockCall(table, payload as Uint8Array, (owner) => owner === 7))!.errno;
}

/** `request` encoded, then one field of its fixed layout overwritten. */
function patched(request: Partial<LockRequest>, patch?: (view: DataView) => void): Uint8Array {
  const bytes = encodeLockRequest({ ...valid, ...request });
  patch?.(new DataView(bytes.buffer));
  return bytes;
}

test("a lock call out of bounds (garbage, wrong sizes, bad op, type, owner, range or key) is EINVAL and leaves the host's table as it was", () => {
  const table = new LockTable();
  const hostile: unknown[] = [
    undefined, null, "lock", [1, 2, 3], { op: 1 }, new Uint8Array(0), new Uint8Array(32),
    patched({ key: "x".repeat(MAX_KEY_BYTES + 1) }),
    patched({}, (v) => v.setUint8(0, 9)),
    patched({}, (v) => v.setUint8(1, 3)),
    patched({ op: LockOp.Get, type: LockType.Unlock }),
    patched({}, (v) => v.setFloat64(8, NaN, true)),
    patched({ owner: -7 }), patched({ owner: 0 }), patched({ owner: 7.5 }), patched({ owner: 2 ** 60 }),
    patched({ start: -1n }), patched({ start: 10n, end: 10n }), patched({ start: 10n, end: 5n }),
    patched({}, (v) => v.setBigUint64(24, 1n << 63n, true)),
    (() => { const bytes = patched({ key: "ab" }); bytes.set([0xff, 0xfe], 32); return bytes; })(),
  ];
  for (const payload of hostile) assert.equal(errnoOf(table, payload), Errno.INVAL, String(payload));
  assert.equal(table.conflicting("host:1:2", 99, LockType.Write, 0n, TO_END), null, "nothing was locked");
  assert.equal(errnoOf(table, patched({})), Errno.SUCCESS, "the well-formed request still works");
});

test("a worker that asks for a lock as a sandbox it does not host gets EBADF, and cannot release another worker's locks", () => {
  const table = new LockTable();
  assert.equal(errnoOf(table, patched({ owner: 8 })), Errno.BADF);
  assert.equal(table.set("host:1:2", 8, LockType.Write, 0n, 10n), Errno.SUCCESS, "sandbox 8 (of another worker) locks");
  assert.equal(errnoOf(table, patched({ owner: 8, op: LockOp.ReleaseFile, type: LockType.Unlock })), Errno.BADF);
  assert.equal(errnoOf(table, patched({ owner: 8, op: LockOp.Set, type: LockType.Unlock })), Errno.BADF);
  assert.notEqual(table.conflicting("host:1:2", 7, LockType.Read, 0n, 10n), null, "sandbox 8's lock is still there");
});
