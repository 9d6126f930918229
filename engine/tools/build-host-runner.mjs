// Build-time only: runs CPython's own python.wasm (a WASI command) while
// CPython's Makefile needs it (sysconfig data, freezing, compileall). Trusted
// input, so node:wasi is acceptable here; the product never uses it.
//   node build-host-runner.mjs [--dir HOST::GUEST]... [--env NAME=VALUE]... file.wasm [args...]
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const preopens = {};
const env = {};
const argv = process.argv.slice(2);
while (argv[0] === "--dir" || argv[0] === "--env") {
  const [flag, value] = argv.splice(0, 2);
  if (flag === "--dir") {
    const [host, guest] = value.split("::");
    preopens[guest ?? host] = host;
  } else {
    const eq = value.indexOf("=");
    env[value.slice(0, eq)] = value.slice(eq + 1);
  }
}
const [wasmPath, ...args] = argv;
const wasi = new WASI({ version: "preview1", args: [wasmPath, ...args], env, preopens, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(wasmPath));
const instance = await WebAssembly.instantiate(module, {
  wasi_snapshot_preview1: wasi.wasiImport,
  // fd_lock: the build runs one process, so a record lock always succeeds, and
  // F_GETLK finds none (the engine's shim presets the answer to F_UNLCK).
  pyvisor: { tick: () => 0, fd_lock: () => 0 },
});
process.exitCode = wasi.start(instance);
