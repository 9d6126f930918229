// Writes engine/dist/manifest.json: where the engine came from and the sha256
// and size of every artifact. test/engine/manifest.test.ts checks the committed
// files against it.
//   node write-manifest.mjs <dist> --cpython V --source-sha256 H --toolchain "pkg=ver,..." \
//     --libraries "source-package=ver,..." --configure "..."
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { cpython: { type: "string" }, "source-sha256": { type: "string" }, toolchain: { type: "string" }, libraries: { type: "string" }, configure: { type: "string" } },
});
const dist = positionals[0];
const artifacts = {};
for (const name of ["python.wasm", "stdlib.img"]) {
  const bytes = readFileSync(join(dist, name));
  artifacts[name] = { sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length };
}
const pairs = (list) => Object.fromEntries((list ?? "").split(",").filter(Boolean).map((pair) => pair.split("=")));
const toolchain = pairs(values.toolchain);
const manifest = {
  cpython: { version: values.cpython, source: "Debian trixie python3.13 orig tarball", sourceSha256: values["source-sha256"] },
  target: "wasm32-wasip1",
  toolchain,
  // Debian source (and tzdata binary) packages built or packed into the artifacts.
  libraries: pairs(values.libraries),
  configureFlags: values.configure,
  artifacts,
};
writeFileSync(join(dist, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
