// toJSON: every value a run can return has a JSON form (the CLI's --json form).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, Sandbox, toJSON } from "../../src/api/index.js";

test("toJSON gives big ints as text (hex past 4300 digits) or numbers, bytes as base64, sets as arrays", () => {
  assert.equal(toJSON(2n ** 64n), "18446744073709551616");
  assert.equal(toJSON(2n ** 64n, { bigint: "number" }), 18446744073709552000);
  assert.match(toJSON(2n ** 20_000n) as string, /^0x10{5000}$/);
  assert.equal(toJSON(new Uint8Array([104, 105])), "aGk=");
  assert.deepEqual(toJSON(new Set([1, "a"])), [1, "a"]);
  assert.equal(toJSON(new Date(Date.UTC(2000, 0, 1))), "2000-01-01T00:00:00.000Z");
  assert.deepEqual(toJSON([Number.NaN, Infinity]), ["NaN", "Infinity"]);
});

test("toJSON gives a Map as an object when its keys are strings, else as [key, value] pairs", () => {
  assert.deepEqual(toJSON(new Map([["a", 1n]])), { a: "1" });
  assert.deepEqual(toJSON(new Map<unknown, unknown>([[1, "x"], [2n ** 70n, new Uint8Array([0])]])), [[1, "x"], ["1180591620717411303424", "AA=="]]);
});

test("every kind of value a run returns survives JSON.stringify(toJSON(value))", async () => {
  const pool = new Pool({ size: 1 });
  try {
    await using sb = await Sandbox.create({ pool });
    const result = await sb.run("import datetime\n[{1: 'a', (1, 2): b'\\x00'}, {3}, 2**80, 1.5, None, True, datetime.datetime(2000, 1, 2), {'k': [b'hi']}]");
    assert.equal(result.error, null);
    assert.throws(() => JSON.stringify(result.value), TypeError, "a bigint makes JSON.stringify throw");
    assert.equal(JSON.stringify(toJSON(result.value)),
      '[[[1,"a"],[[1,2],"AA=="]],[3],"1208925819614629174706176",1.5,null,true,"2000-01-02T00:00:00.000Z",{"k":["aGk="]}]');
  } finally {
    await pool.close();
  }
});
