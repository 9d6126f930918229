// Hostile and broken packages: each is refused with a PackageError naming the
// file and the cause, on the host, before any sandbox is asked of the pool.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidOptionsError, PackageError, Pool, Sandbox } from "../../src/api/index.js";
import { buildZip, writeWheel, type WheelSpec, type ZipEntry } from "../helpers/wheel.js";

let dir: string;
let pool: Pool;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "pyvisor-hostile-"));
  pool = new Pool({ size: 1 });
  // Nothing here may reach a worker: a package is refused before any sandbox starts.
  pool.create = () => Promise.reject(new Error("a sandbox was asked of the pool for a refused package"));
});
after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

const fine: WheelSpec = { name: "fine", version: "1.0", files: { "fine/__init__.py": "VALUE = 1\n" } };

/** Sandbox.create with these packages must reject with a PackageError for `path` whose reason matches `reason`. */
async function refused(paths: string[], path: string, reason: RegExp, option = `packages[${paths.indexOf(path)}]`): Promise<PackageError> {
  const error = await Sandbox.create({ pool, packages: paths }).then(() => null, (e: unknown) => e);
  assert.ok(error instanceof PackageError, `expected a PackageError, got ${String(error)}`);
  assert.ok(error instanceof InvalidOptionsError, "a PackageError is an InvalidOptionsError too");
  assert.equal(error.path, path);
  assert.equal(error.option, option);
  assert.match(error.reason, reason);
  assert.ok(error.message.includes(path) && error.message.includes(error.reason), error.message);
  return error;
}

const wheel = (spec: Partial<WheelSpec> & { tamper?: WheelSpec["tamper"] }) => writeWheel(dir, { ...fine, ...spec });
const tamper = (change: (entries: ZipEntry[]) => ZipEntry[]) => wheel({ name: `t${Math.random().toString(36).slice(2, 8)}`, files: { "tt/__init__.py": "" }, tamper: change });
const zipFile = (name: string, entries: ZipEntry[]) => {
  const path = join(dir, name);
  writeFileSync(path, buildZip(entries));
  return path;
};

test("a wheel member with a ../ path is refused: it would escape the package's directory", async () => {
  const path = tamper((entries) => [...entries, { name: "../../etc/evil.py", data: "x" }]);
  await refused([path], path, /unsafe member path "\.\.\/\.\.\/etc\/evil\.py": a "\.\." segment/);
});

for (const [name, why] of [["/etc/passwd", /an absolute path/], ["a\\..\\b.py", /a backslash/], ["C:/x.py", /a drive letter/], ["a//b.py", /an empty or "\." segment/]] as const) {
  test(`a zip member named ${JSON.stringify(name)} is refused as unsafe`, async () => {
    const path = zipFile(`unsafe-${Math.random().toString(36).slice(2)}.zip`, [{ name: "ok.py", data: "" }, { name, data: "x" }]);
    await refused([path], path, why);
  });
}

test("a symlink entry is refused: a package holds regular files only", async () => {
  const path = tamper((entries) => [...entries, { name: "tt/link", data: "/etc/passwd", unixMode: 0o120777 }]);
  await refused([path], path, /tt\/link: a symlink entry/);
});

test("a member declaring 10 GB uncompressed is refused from its header, before anything is inflated", async () => {
  const path = zipFile("bomb-declared.zip", [{ name: "big.bin", data: "small", declaredSize: 10 * 1024 ** 3 }]);
  await refused([path], path, /big\.bin: declares 10737418240 bytes uncompressed, over the 67108864-byte limit of one member/);
});

test("a member that inflates past its declared size is cut at the declared size and refused (the declared sizes are not trusted)", async () => {
  const path = zipFile("bomb-lying.zip", [{ name: "big.bin", data: new Uint8Array(50 * 1024 * 1024), declaredSize: 1000 }]);
  await refused([path], path, /big\.bin: inflates past its declared size/);
});

test("members declaring more than the total budget in all are refused", async () => {
  const entries = Array.from({ length: 5 }, (_, i): ZipEntry => ({ name: `part${i}.bin`, data: "x", declaredSize: 60 * 1024 * 1024 }));
  const path = zipFile("bomb-total.zip", entries);
  await refused([path], path, /declare more than 268435456 bytes uncompressed in all/);
});

test("a compiled extension (.so) in a wheel is refused: CPython on WebAssembly cannot load native code", async () => {
  const path = wheel({ name: "native", files: { "native/__init__.py": "", "native/_speedups.cpython-313-x86_64-linux-gnu.so": "\x7fELF" } });
  await refused([path], path, /compiled extension native\/_speedups\.cpython-313-x86_64-linux-gnu\.so: pyvisor runs pure Python only/);
});

test("a wheel tagged for a platform is refused with the tags pyvisor accepts", async () => {
  const path = wheel({ name: "plat", tag: "cp313-cp313-manylinux_2_17_x86_64" });
  await refused([path], path, /unsupported tag cp313-cp313-manylinux_2_17_x86_64: pyvisor runs pure-Python wheels only \(abi "none", platform "any"/);
});

test("a wheel for a newer Python than 3.13 is refused as an unsupported tag", async () => {
  const path = wheel({ name: "future", tag: "py314-none-any" });
  await refused([path], path, /unsupported tag py314-none-any/);
});

test("a wheel whose file differs from its RECORD hash is refused naming the file", async () => {
  const path = tamper((entries) => entries.map((e) => (e.name === "tt/__init__.py" ? { ...e, data: "import os; os.system('x')\n" } : e)));
  await refused([path], path, /bad RECORD hash for tt\/__init__\.py/);
});

test("a wheel file missing from RECORD is refused", async () => {
  const path = tamper((entries) => [...entries, { name: "tt/extra.py", data: "" }]);
  await refused([path], path, /tt\/extra\.py is not in t\w+-1\.0\.dist-info\/RECORD/);
});

test("duplicate member names are refused (which one would win?)", async () => {
  const path = zipFile("dup.zip", [{ name: "m.py", data: "A = 1" }, { name: "m.py", data: "A = 2" }]);
  await refused([path], path, /duplicate member: m\.py/);
});

test("an archive with too many members is refused from its end record", async () => {
  const path = zipFile("many.zip", Array.from({ length: 10_001 }, (_, i): ZipEntry => ({ name: `f${i}.py`, method: 0 })));
  await refused([path], path, /too many members: 10001 \(at most 10000\)/);
});

test("two directory entries pointing at one member's data (overlapping members) are refused", async () => {
  const bytes = buildZip([{ name: "a.py", data: "A = 1", method: 0 }, { name: "b.py", data: "A = 1", method: 0 }]);
  // Point b.py's central entry (the second) at a.py's local header.
  const central = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 1);
  bytes.writeUInt32LE(0, central + 42);
  const path = join(dir, "overlap.zip");
  writeFileSync(path, bytes);
  await refused([path], path, /b\.py: its local header names another file/);
});

test("a file that is not a zip archive is refused", async () => {
  const path = join(dir, "garbage-1.0-py3-none-any.whl");
  writeFileSync(path, "not a zip at all");
  await refused([path], path, /not a zip archive \(no end of central directory record\)/);
});

test("a missing Requires-Dist dependency is reported by name", async () => {
  const path = wheel({ name: "needy", requires: ["leftpad>=1.0", "colorama; sys_platform == \"win32\"", "pytest; extra == \"test\""] });
  await refused([path], path, /missing dependency leftpad: needy 1\.0 requires "leftpad>=1\.0", which no named package provides/);
});

test("a Requires-Dist met by another named package or by the standard library is no error", async () => {
  const dep = wheel({ name: "leftpad", files: { "leftpad.py": "" } });
  const needy = wheel({ name: "needy2", requires: ["leftpad>=1.0", "dataclasses; python_version < \"3.7\"", "argparse"] });
  const error = await Sandbox.create({ pool, packages: [needy, dep] }).then(() => null, (e: unknown) => e);
  // The pool refuses to start a sandbox here: reaching it means the packages were accepted.
  assert.match(String(error), /a sandbox was asked of the pool/);
});

test("two packages laying the same file are refused, naming both", async () => {
  const one = wheel({ name: "one", files: { "shared/__init__.py": "A = 1" } });
  const two = wheel({ name: "two", files: { "shared/__init__.py": "A = 2" } });
  await refused([one, two], two, new RegExp(`shared/__init__\\.py is also laid by ${one.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
});

test("a package directory holding a symlink is refused (it could point anywhere on the host)", async () => {
  const root = join(dir, "linked");
  mkdirSync(join(root, "pkg"), { recursive: true });
  writeFileSync(join(root, "pkg", "__init__.py"), "");
  symlinkSync("/etc/passwd", join(root, "pkg", "passwd"));
  await refused([root], root, /pkg\/passwd: a symlink/);
});

test("a wheel whose file name is not name-version-tags.whl is refused", async () => {
  const path = join(dir, "renamed.whl");
  writeFileSync(path, buildZip([{ name: "x.py", data: "" }]));
  await refused([path], path, /not a wheel file name \(name-version-python-abi-platform\.whl\): renamed\.whl/);
});

test("a package path that does not exist is refused naming it", async () => {
  const path = join(dir, "nope-1.0-py3-none-any.whl");
  await refused([path], path, /no such file or directory/);
});

test("a METADATA Name with control characters is refused, quoted (it would reach messages and terminals)", async () => {
  const dirPackage = join(dir, "ctrl-dir");
  mkdirSync(join(dirPackage, "ctrl-1.0.dist-info"), { recursive: true });
  writeFileSync(join(dirPackage, "ctrl-1.0.dist-info", "METADATA"), "Name: evil\u001b[2J\nVersion: 1.0\n\n");
  const error = await refused([dirPackage], dirPackage, /METADATA: Name "evil\\u001b\[2J" is not a project name/);
  assert.ok(!error.message.includes("\u001b"), "no raw escape in the message");
});
