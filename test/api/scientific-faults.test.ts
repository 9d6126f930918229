// Faults of the scientific engine that came from linking numpy into one
// python.wasm, each of which ended the run with a trap:
// - pocketfft (numpy.fft) throws C++ exceptions, which wasm32 without C++
//   exception handling cannot unwind (engine/variants/scientific/cxa_throw.c,
//   patches/0003): a failed allocation must be numpy's MemoryError, as natively;
// - mtrand's legacy copy of numpy's distributions (32-bit `long` on wasm32)
//   shadowed the Generator's int64 ones (patches/0004);
// - C functions whose parameters disagree with their METH_ flags or getter type: harmless on
//   x86-64, a trap on wasm, which checks the type of every indirect call
//   (patches/0005; found by numpy's own tests, npm run conformance:numpy);
// - np.save / np.load on a file took numpy's C path, which duplicates the
//   descriptor: WASI has no dup(), so they failed with OSError (patches/0006).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Pool, Sandbox } from "../../src/api/index.js";

const pool = new Pool({ size: 1, isolation: "thread", engine: "scientific" });
after(() => pool.close());

test("a failed allocation inside numpy.fft's C++ (pocketfft) is a MemoryError in the run, not a trap that restarts the sandbox", async () => {
  await using sb = await Sandbox.create({ pool, memoryLimit: "300M" });
  await sb.run("import numpy as np\nkept = 'state'");
  // n = 2**23 + 1 is not a product of small primes: pocketfft's Bluestein plan needs
  // more than the output array, which numpy allocates first, and fails inside C++.
  const result = await sb.run([
    "try:",
    "    np.fft.fft(np.ones(3), n=2**23 + 1)",
    "    outcome = 'no error'",
    "except MemoryError:",
    "    outcome = 'MemoryError'",
    "print(outcome, np.fft.fft(np.arange(4.0)).real.tolist())",
  ].join("\n"));
  assert.equal(result.error, null, result.stderr);
  assert.equal(result.stdout, "MemoryError [6.0, -2.0, -2.0, -2.0]\n");
  assert.equal(result.stats.reset, false);
  assert.equal((await sb.run("kept")).value, "state");
});

test("Generator.poisson, negative_binomial, zipf and multinomial give native numpy's draws instead of trapping", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run([
    "import numpy as np",
    "draws = []",
    "for call in ('poisson(3.0, 4)', 'negative_binomial(3, 0.5, 4)', 'zipf(2.0, 4)', 'multinomial(10, [0.5, 0.5])'):",
    "    draws.append(eval('np.random.default_rng(0).' + call).tolist())",
    "np.random.seed(0)",
    "draws.append(np.random.poisson(3.0, 4).tolist())",
    "draws",
  ].join("\n"));
  assert.equal(result.error, null, result.stderr);
  // numpy 2.2.4 natively (x86-64, same source), seed 0.
  assert.deepEqual(result.value, [[2, 0, 7, 1], [0, 6, 1, 1], [2, 1, 2, 5], [6, 4], [5, 6, 2, 0]]);
});

test("numpy functions whose C signature disagreed with their METH_ flags or getter type are called without a trap", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run([
    "import numpy as np, pickle",
    "from numpy._core._multiarray_umath import _get_castingimpl, _get_sfloat_dtype, _array_converter",
    "from numpy._core._multiarray_tests import format_float_OSprintf_g",
    "np._ScaledFloatTestDType = _get_sfloat_dtype()",
    "scaled = np.array([1.0, 2.0], dtype=np._ScaledFloatTestDType(1.0))",
    "cast = _get_castingimpl(type(np.dtype('d')), type(np.dtype('f')))",
    "[type(cast).__name__, cast._supports_unaligned, list(_array_converter(1, np.arange(2)).scalar_input),",
    " pickle.loads(pickle.dumps(scaled)).tolist(), format_float_OSprintf_g(np.float64(1.5), 3)]",
  ].join("\n"));
  assert.equal(result.error, null, result.stderr);
  assert.deepEqual(result.value, ["_BoundArrayMethod", true, [true, false], [1, 2], "1.5"]);
});

test("np.save and np.load round-trip an array through a file in the sandbox (WASI has no dup() for numpy's C file path)", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run([
    "import numpy as np",
    "np.save('/tmp/a.npy', np.arange(5.0))",
    "np.savez('/tmp/b.npz', b=np.eye(2))",
    "[np.load('/tmp/a.npy').tolist(), np.load('/tmp/b.npz')['b'].tolist()]",
  ].join("\n"));
  assert.equal(result.error, null, result.stderr);
  assert.deepEqual(result.value, [[0, 1, 2, 3, 4], [[1, 0], [0, 1]]]);
});

test("np.save of a masked array to a file still raises NotImplementedError, as natively (the file path without dup() keeps a subclass's tofile)", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run([
    "import numpy as np",
    "try:",
    "    np.save('/tmp/m.npy', np.ma.masked_array([1, 2, 3], mask=[False, True, False]))",
    "    outcome = 'saved, mask lost'",
    "except NotImplementedError:",
    "    outcome = 'NotImplementedError'",
    "outcome",
  ].join("\n"));
  assert.equal(result.error, null, result.stderr);
  assert.equal(result.value, "NotImplementedError");
});
