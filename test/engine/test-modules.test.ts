// CPython's C test modules the engine builds in (engine/build.sh): test_import
// and test_types import _testsinglephase, which CPython builds only as a
// shared module, one WASI cannot load; the engine links it in statically.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startGuest, type Guest } from "../helpers/engine.js";

let guest: Guest;
before(() => { guest = startGuest(); });
after(() => { guest.kernel.dispose(); });

test("_testsinglephase imports as a built-in module (it was not built: ModuleNotFoundError)", () => {
  const result = guest.run(`
import sys, _testsinglephase
('_testsinglephase' in sys.builtin_module_names, _testsinglephase.sum(2, 3), _testsinglephase.initialized_count() >= 1)`);
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, [true, 5, true]);
});
