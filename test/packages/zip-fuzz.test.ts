// The zip reader and wheel checks on mutated archives: whatever the bytes,
// the outcome is the members or a ZipError (never another exception, a hang
// or output past the limits).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { readZip, ZipError } from "../../src/packages/zip.js";
import { checkWheel } from "../../src/packages/wheel.js";
import { buildWheel } from "../helpers/wheel.js";

const LIMITS = { maxMembers: 50, maxMemberBytes: 64 * 1024, maxTotalBytes: 256 * 1024 };
const { fileName, bytes: WHEEL } = buildWheel({
  name: "fuzzed", version: "1.0", requires: ["six; python_version >= \"3\""],
  files: { "fuzzed/__init__.py": "from .core import *\n".repeat(20), "fuzzed/core.py": "X = 1\n", "fuzzed/data.bin": new Uint8Array(3000).fill(7) },
});

/** Byte edits: overwrite, cut the end, or splice bytes in. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

type Edit = { kind: "set"; at: number; value: number } | { kind: "cut"; at: number } | { kind: "insert"; at: number; value: Uint8Array };

function mutate(base: Uint8Array, edits: Edit[]): Uint8Array {
  let bytes = Buffer.from(base);
  for (const edit of edits) {
    const at = edit.at % (bytes.length + 1);
    if (edit.kind === "set" && at < bytes.length) bytes[at] = edit.value;
    else if (edit.kind === "cut") bytes = bytes.subarray(0, at);
    else if (edit.kind === "insert") bytes = Buffer.concat([bytes.subarray(0, at), edit.value, bytes.subarray(at)]);
  }
  return bytes;
}

test("a mutated wheel is read or refused with a ZipError, never another exception, and never past the limits", () => {
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (edits) => {
      const bytes = mutate(WHEEL, edits);
      try {
        const members = readZip(bytes, LIMITS);
        assert.ok(members.length <= LIMITS.maxMembers);
        assert.ok(members.reduce((sum, m) => sum + m.data.length, 0) <= LIMITS.maxTotalBytes);
        checkWheel(fileName, members);
      } catch (error) {
        if (!(error instanceof ZipError)) throw error;
      }
    }),
    { numRuns: 3000, seed: 14 },
  );
});

test("any value in the end record's and central directory's numbers (counts, sizes, offsets) is read or refused with a ZipError", () => {
  const end = WHEEL.length - 22;
  const central = WHEEL.readUInt32LE(end + 16);
  // Positions of the numeric fields: the end record's, and the first central entry's sizes, name length and offset.
  const fields = [end + 8, end + 10, end + 12, end + 16, central + 20, central + 24, central + 28, central + 30, central + 42];
  fc.assert(
    fc.property(fc.constantFrom(...fields), fc.integer({ min: 0, max: 0xffffffff }), (at, value) => {
      const bytes = Buffer.from(WHEEL);
      if (at < end && at >= central && [central + 28, central + 30].includes(at)) bytes.writeUInt16LE(value & 0xffff, at);
      else if (at === end + 8 || at === end + 10) bytes.writeUInt16LE(value & 0xffff, at);
      else bytes.writeUInt32LE(value, at);
      try {
        checkWheel(fileName, readZip(bytes, LIMITS));
      } catch (error) {
        if (!(error instanceof ZipError)) throw error;
      }
    }),
    { numRuns: 2000, seed: 14 },
  );
});
