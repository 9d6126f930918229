// Bridges to host objects: host functions and `inputs` are the only ways a
// host value reaches the guest, and only plain data crosses them. Nothing the
// guest sends can pollute a host prototype or name its way to `process`,
// `require` or `globalThis`.
import { afterEach, before, after, test } from "node:test";
import assert from "node:assert/strict";
import { InvalidOptionsError, PyvisorError, Sandbox } from "../../src/api/index.js";
import { PY_ATTACK, sharedPool } from "./helpers.js";

const pool = sharedPool(1, "thread");
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();
let received: unknown[] = [];
let sb: Sandbox;

const functions = {
  giveFunction: () => () => "host code",
  giveClass: () => class Secret {},
  giveInstance: () => new (class Account { balance = 1 })(),
  giveProcess: () => process,
  giveGlobal: () => globalThis,
  giveProxy: () => new Proxy(process, {}),
  giveSymbolKey: () => ({ [Symbol("hidden")]: 1, shown: 2 }),
  giveThrowingGetter: () => ({ get boom(): number { throw new Error("getter ran"); } }),
  giveRequire: () => (typeof require === "undefined" ? import.meta.url : require),
  never: () => new Promise(() => {}),
  fail: () => { throw new Error("host failure"); },
  keep: (...args: unknown[]) => { received.push(...args); return null; },
};

before(async () => {
  sb = await Sandbox.create({ pool: pool(), hostGlobals: true, functions, functionTimeout: 300 });
  assert.equal((await sb.run(PY_ATTACK)).error, null);
});
after(async () => { await sb.dispose(); });
afterEach(() => {
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTO_KEYS, "Object.prototype gained a property");
  assert.equal((({}) as Record<string, unknown>).polluted, undefined);
  received = [];
});

async function value(code: string): Promise<unknown> {
  const result = await sb.run(code);
  assert.equal(result.error, null, JSON.stringify(result.error));
  return result.value;
}

/** What a host call gives the guest: its value or "<ExceptionName>: <message>". */
async function outcome(call: string): Promise<unknown> {
  return value(`def attempt():\n    try:\n        return ${call}\n    except BaseException as e:\n        return type(e).__name__ + ': ' + str(e)\nattempt()`);
}

test("a host function returning a function gives the guest a HostError, not a callable", async () => {
  assert.match(String(await outcome("giveFunction()")), /^HostError: .*cannot convert function/);
});

test("a host function returning a class gives the guest a HostError", async () => {
  assert.match(String(await outcome("giveClass()")), /^HostError: .*cannot convert function/);
});

test("a host function returning a class instance gives the guest a HostError", async () => {
  assert.match(String(await outcome("giveInstance()")), /^HostError: .*cannot convert Account object/);
});

test("a host function returning `process` gives the guest nothing of it", async () => {
  assert.match(String(await outcome("giveProcess()")), /^HostError: /);
});

test("a host function returning globalThis gives the guest nothing of it", async () => {
  assert.match(String(await outcome("giveGlobal()")), /^HostError: /);
});

test("a host function returning a Proxy of `process` gives the guest nothing of it", async () => {
  assert.match(String(await outcome("giveProxy()")), /^HostError: /);
});

test("a host function returning `require` (or the module URL) gives no loader to the guest", async () => {
  const got = await outcome("giveRequire()");
  assert.ok(typeof got === "string" && (got.startsWith("HostError: ") || got.startsWith("file:")), String(got));
});

test("a symbol-keyed property is refused, not silently dropped into the guest", async () => {
  assert.match(String(await outcome("giveSymbolKey()")), /^HostError: .*symbol key/);
});

test("a getter that throws while its value is converted becomes a HostError", async () => {
  assert.match(String(await outcome("giveThrowingGetter()")), /^HostError: /);
});

test("a host exception reaches the guest as its message only, without the host's stack or paths", async () => {
  const got = String(await outcome("fail()"));
  assert.equal(got, "HostError: Error: host failure");
});

test("a host function that never answers ends in a HostError after functionTimeout, and the next call works", async () => {
  assert.match(String(await outcome("never()")), /^HostError: .*timed out/);
  assert.equal(await outcome("keep(1)"), null);
});

test("a guest dict with a __proto__ key arrives as an own property and pollutes no prototype", async () => {
  await value("keep({'__proto__': {'polluted': 1}})");
  const got = received[0] as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.ok(Object.hasOwn(got, "__proto__"));
  assert.equal((got as { polluted?: unknown }).polluted, undefined);
});

test("a guest dict with constructor.prototype keys pollutes nothing", async () => {
  await value("keep({'constructor': {'prototype': {'polluted': 1}}})");
  const got = received[0] as Record<string, unknown>;
  assert.equal(got.constructor !== Object, true, "an own data property, not Object");
  assert.equal(Object.prototype.constructor, Object);
});

test("__proto__ keys nested in lists and dicts pollute nothing", async () => {
  await value("keep([{'a': [{'__proto__': {'polluted': True}}]}, {'__proto__': None}])");
  assert.equal(received.length, 1);
});

test("a __proto__ keyword argument arrives in the trailing object as an own property", async () => {
  await value("keep(1, **{'__proto__': {'polluted': 1}})");
  const kwargs = received[1] as Record<string, unknown>;
  assert.ok(Object.hasOwn(kwargs, "__proto__"));
  assert.equal(Object.getPrototypeOf(kwargs), Object.prototype);
});

test("a guest map (dict with non-string keys) arrives as a Map, never as an object with inherited names", async () => {
  await value("keep({1: 'a', ('__proto__',): 'b'})");
  assert.ok(received[0] instanceof Map);
});

test("names of Object.prototype members are not host functions", async () => {
  const got = await value(`
import pyvisor
out = []
for name in ('constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'):
    try:
        out.append(pyvisor.call(name))
    except pyvisor.HostError as e:
        out.append(str(e))
out`) as string[];
  assert.deepEqual(got, ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "__defineGetter__"].map((n) => `no host function named "${n}"`));
});

test("process, require and globalThis cannot be called by name", async () => {
  const got = await value(`
import pyvisor
[tries(pyvisor.call, n) for n in ('process', 'require', 'globalThis', 'eval', 'Function', 'import')]`) as string[];
  assert.deepEqual(got, Array(6).fill("HostError"));
});

test("inputs holding a function are refused before the run", async () => {
  await assert.rejects(sb.run("x", { inputs: { x: { f: () => 1 } } }), PyvisorError);
});

test("inputs holding a cycle are refused before the run", async () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await assert.rejects(sb.run("x", { inputs: { x: cyclic } }), /circular/);
});

test("inputs holding a symbol-keyed property are refused before the run", async () => {
  await assert.rejects(sb.run("x", { inputs: { x: { [Symbol("s")]: 1 } } }), /symbol key/);
});

test("inputs holding a class instance are refused before the run", async () => {
  await assert.rejects(sb.run("x", { inputs: { x: new (class Handle { fd = 3 })() } }), /cannot convert Handle object/);
});

test("inputs with a getter give the guest the getter's value once, as plain data", async () => {
  let reads = 0;
  const result = await sb.run("x", { inputs: { x: { get g() { reads += 1; return 7; } } } });
  assert.deepEqual(result.value, { g: 7 });
  assert.equal(reads, 1);
});

test("inputs given as a Proxy cross as a plain copy of their data", async () => {
  const result = await sb.run("type(x).__name__, x", { inputs: { x: new Proxy({ a: 1 }, {}) } });
  assert.deepEqual(result.value, ["dict", { a: 1 }]);
});

test("an inputs key that is not a Python identifier is refused", async () => {
  await assert.rejects(sb.run("1", { inputs: { "a.b": 1 } }), (error: unknown) => error instanceof InvalidOptionsError && /Python identifier/.test(error.message));
});

test("an own __proto__ input binds a guest global and changes no host prototype", async () => {
  const result = await sb.run("globals()['__proto__']", { inputs: JSON.parse('{"__proto__": {"polluted": 1}}') as Record<string, unknown> });
  assert.deepEqual(result.value, { polluted: 1 });
});

test("the guest mutating an input does not change the host's object", async () => {
  const data = { items: [1, 2] };
  await sb.run("x['items'].append(3)\nx['new'] = 1", { inputs: { x: data } });
  assert.deepEqual(data, { items: [1, 2] });
});
