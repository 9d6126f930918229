// Builds zip archives and wheels for the package tests: valid ones (a wheel
// with its METADATA, WHEEL and RECORD, or one packed from a library Debian
// installed under /usr/lib/python3/dist-packages) and hostile ones (any name,
// mode, method or declared size the test asks for).
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { deflateRawSync } from "node:zlib";
import { crc32 } from "../../src/packages/zip.js";

export interface ZipEntry {
  name: string;
  data?: Uint8Array | string;
  /** 8 (deflate, the default) or 0 (stored). */
  method?: 0 | 8;
  /** A Unix mode (file type and permissions) in the external attributes: 0o120777 is a symlink. */
  unixMode?: number;
  /** The uncompressed size the central directory declares (a lie if it differs); past 4 GiB it goes in a ZIP64 extra field. */
  declaredSize?: number;
}

const bytesOf = (data: Uint8Array | string = "") => (typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data));

/** A zip archive of `entries`, in order, written as the entries say (nothing is checked). */
export function buildZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8");
    const data = bytesOf(entry.data);
    const method = entry.method ?? 8;
    const stored = method === 8 ? deflateRawSync(data) : data;
    const crc = crc32(data);
    const declared = entry.declaredSize ?? data.length;
    const zip64 = declared > 0xffffffff;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(zip64 ? 0xffffffff : declared, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, stored);
    const extra = Buffer.alloc(zip64 ? 12 : 0);
    if (zip64) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(8, 2);
      extra.writeBigUInt64LE(BigInt(declared), 4);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(entry.unixMode !== undefined ? (3 << 8) | 20 : 20, 4);
    central.writeUInt16LE(zip64 ? 45 : 20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(zip64 ? 0xffffffff : declared, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(((entry.unixMode ?? 0) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name, extra);
    offset += local.length + name.length + stored.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

export interface WheelSpec {
  name: string;
  version: string;
  /** Files of the wheel's root: path -> contents. */
  files: Record<string, Uint8Array | string>;
  requires?: string[];
  /** The wheel's tag (file name and WHEEL); default py3-none-any. */
  tag?: string;
  /** Changes the entries before they are zipped (after RECORD is written): a hostile wheel. */
  tamper?: (entries: ZipEntry[]) => ZipEntry[];
}

/** A wheel's file name and bytes, with a RECORD that matches its files unless `tamper` says otherwise. */
export function buildWheel(spec: WheelSpec): { fileName: string; bytes: Buffer } {
  const tag = spec.tag ?? "py3-none-any";
  const distInfo = `${spec.name}-${spec.version}.dist-info`;
  const files: Record<string, Uint8Array | string> = {
    ...spec.files,
    [`${distInfo}/METADATA`]: ["Metadata-Version: 2.1", `Name: ${spec.name}`, `Version: ${spec.version}`, ...(spec.requires ?? []).map((r) => `Requires-Dist: ${r}`), "", ""].join("\n"),
    [`${distInfo}/WHEEL`]: `Wheel-Version: 1.0\nGenerator: pyvisor-tests\nRoot-Is-Purelib: true\nTag: ${tag}\n`,
  };
  const record = Object.entries(files).map(([path, data]) => {
    const bytes = bytesOf(data);
    return `${path},sha256=${createHash("sha256").update(bytes).digest("base64url")},${bytes.length}`;
  });
  files[`${distInfo}/RECORD`] = `${record.join("\n")}\n${distInfo}/RECORD,,\n`;
  const entries = Object.entries(files).map(([name, data]): ZipEntry => ({ name, data }));
  return { fileName: `${spec.name}-${spec.version}-${tag}.whl`, bytes: buildZip(spec.tamper ? spec.tamper(entries) : entries) };
}

/** Writes a wheel into `dir`; returns its path. */
export function writeWheel(dir: string, spec: WheelSpec): string {
  const { fileName, bytes } = buildWheel(spec);
  const path = join(dir, fileName);
  writeFileSync(path, bytes);
  return path;
}

const DIST_PACKAGES = "/usr/lib/python3/dist-packages";

/** A library Debian installs, packed into a wheel: its distribution name, Debian package, top-level modules and dependencies. */
export interface DebianLibrary {
  name: string;
  debian: string;
  modules: string[];
  requires?: string[];
}

export const DEBIAN_LIBRARIES = {
  attrs: { name: "attrs", debian: "python3-attr", modules: ["attr", "attrs"] },
  six: { name: "six", debian: "python3-six", modules: ["six.py"] },
  dateutil: { name: "python_dateutil", debian: "python3-dateutil", modules: ["dateutil"], requires: ["six>=1.5"] },
  idna: { name: "idna", debian: "python3-idna", modules: ["idna"] },
  packaging: { name: "packaging", debian: "python3-packaging", modules: ["packaging"] },
  jinja2: { name: "Jinja2", debian: "python3-jinja2", modules: ["jinja2"], requires: ["MarkupSafe>=2.0", "Babel>=2.7; extra == \"i18n\""] },
  markupsafe: { name: "MarkupSafe", debian: "python3-markupsafe", modules: ["markupsafe"] },
} satisfies Record<string, DebianLibrary>;

/**
 * Packs an installed Debian library into a wheel in `dir` (its version read
 * from its .dist-info or .egg-info directory); native modules (.so) and
 * __pycache__ are left out, so markupsafe is its pure-Python fallback. A
 * library that is not installed fails with the Debian package to install.
 */
export function debianWheel(dir: string, library: DebianLibrary): string {
  const missing = library.modules.find((module) => !existsSync(join(DIST_PACKAGES, module)));
  const info = readdirSync(DIST_PACKAGES).find((entry) => new RegExp(`^${library.name}-[^-]+\\.(dist|egg)-info$`, "i").test(entry));
  if (missing !== undefined || info === undefined) {
    throw new Error(`the package tests need the Debian package ${library.debian} (apt-get install ${library.debian}): ${join(DIST_PACKAGES, missing ?? `${library.name}-*.dist-info`)} is missing`);
  }
  const version = info.replace(/\.(dist|egg)-info$/, "").split("-")[1]!;
  const files: Record<string, Uint8Array> = {};
  for (const module of library.modules) {
    for (const path of walk(join(DIST_PACKAGES, module))) {
      if (/\.so$|\.so\./.test(path) || path.includes("__pycache__")) continue;
      files[relative(DIST_PACKAGES, path)] = readFileSync(path);
    }
  }
  return writeWheel(dir, { name: library.name, version, files, requires: library.requires });
}

function walk(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((name) => walk(join(path, name)));
}
