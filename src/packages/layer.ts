// A package named in SandboxOptions.packages (a wheel, a zip archive or a
// directory), checked and unpacked once per process into a layer: its files,
// with their data in one buffer, keyed by the hash of its content. The host
// checks every package (and the set: no two laying the same file, no missing
// Requires-Dist) before a sandbox starts; a worker unpacks the same file again,
// once, to build the read-only tree its sandboxes share (worker/packages.ts),
// and refuses it if its content changed in between.
import { createHash } from "node:crypto";
import { closeSync, fstatSync, lstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { PackageError } from "../shared/errors.js";
import type { PackageRef } from "../shared/spec.js";
import { checkWheel, normalizeName, readMetadata, type Distribution } from "./wheel.js";
import { applicableRequirement } from "./requirements.js";
import { stdlibModuleNames } from "./stdlib-names.js";
import { checkMemberName, readZip, ZipError, type ZipLimits, type ZipMember } from "./zip.js";

/**
 * What one package may hold: 10 000 files, 64 MiB a file, 256 MiB in all
 * (uncompressed; the archive itself is bounded by the total too).
 */
export const PACKAGE_LIMITS: Readonly<ZipLimits> = Object.freeze({ maxMembers: 10_000, maxMemberBytes: 64 * 1024 * 1024, maxTotalBytes: 256 * 1024 * 1024 });

export interface PackageLayer {
  /** Absolute host path. */
  path: string;
  hash: string;
  kind: "wheel" | "zip" | "directory";
  /** Files, relative to the site directory, sorted by name; data are views into one buffer. */
  files: ZipMember[];
  bytes: number;
  distributions: Distribution[];
}

const NATIVE = /\.(so|pyd|dll|dylib)$|\.so\./i;
const NATIVE_HELP = "pyvisor runs pure Python only: CPython on WebAssembly cannot load native code (use the library's pure-Python version, or a py3-none-any wheel)";

/** Layers by content hash, for this process. */
const layers = new Map<string, PackageLayer>();
/** A file's hash by its stat identity, so an unchanged wheel is not hashed again on every create. */
const fileHashes = new Map<string, { identity: string; hash: string }>();

/** The layer of `path`, unpacked and checked once per content; throws PackageError (`option` names the entry). */
export function loadPackage(path: string, option: string): PackageLayer {
  const absolute = resolve(path);
  try {
    const stat = statSync(absolute);
    if (stat.isDirectory()) return cached(absolute, "directory", readDirectory(absolute));
    if (!stat.isFile()) throw new ZipError("not a file or a directory");
    const kind = /\.whl$/i.test(absolute) ? "wheel" : "zip";
    const known = fileHashes.get(absolute);
    const identity = statIdentity(absolute);
    if (known !== undefined && known.identity === identity && layers.has(known.hash)) return layers.get(known.hash)!;
    const bytes = readBounded(absolute, PACKAGE_LIMITS.maxTotalBytes);
    const hash = createHash("sha256").update(`${kind}\0${kind === "wheel" ? basename(absolute) : ""}\0`).update(bytes).digest("hex");
    fileHashes.set(absolute, { identity, hash });
    return layers.get(hash) ?? remember(unpackArchive(absolute, kind, hash, bytes));
  } catch (error) {
    if (error instanceof ZipError) throw new PackageError(option, path, error.message);
    if (error instanceof PackageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new PackageError(option, path, code === "ENOENT" ? "no such file or directory" : (error as Error).message);
  }
}

function statIdentity(path: string): string {
  const s = statSync(path, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

function remember(layer: PackageLayer): PackageLayer {
  layers.set(layer.hash, layer);
  return layer;
}

function unpackArchive(path: string, kind: "wheel" | "zip", hash: string, bytes: Uint8Array): PackageLayer {
  const members = readZip(bytes, PACKAGE_LIMITS);
  if (kind === "wheel") {
    const { files, distribution } = checkWheel(basename(path), members);
    return layer(path, kind, hash, files, [distribution]);
  }
  return layer(path, kind, hash, members, distributionsOf(members));
}

/** The layer of a directory, hashed on every call (a file deep inside may change without its directory's times). */
function cached(path: string, kind: "directory", files: ZipMember[]): PackageLayer {
  const hash = createHash("sha256").update(`${kind}\0`);
  for (const file of files) hash.update(`${file.name}\0${file.data.length}\0`).update(createHash("sha256").update(file.data).digest());
  const digest = hash.digest("hex");
  return layers.get(digest) ?? remember(layer(path, kind, digest, files, distributionsOf(files)));
}

/** A zip's or directory's metadata: each top-level *.dist-info with a METADATA. */
function distributionsOf(files: ZipMember[]): Distribution[] {
  const dirs = new Set(files.filter((f) => /^[^/]+\.dist-info\/METADATA$/.test(f.name)).map((f) => f.name.split("/")[0]!));
  return [...dirs].sort().map((dir) => readMetadata(files, dir));
}

/** Checks the files (native code; the names once more, for directories) and copies their data into one buffer. */
function layer(path: string, kind: PackageLayer["kind"], hash: string, files: ZipMember[], distributions: Distribution[]): PackageLayer {
  const kinds = new Map<string, "file" | "dir">();
  for (const file of files) {
    checkMemberName(file.name);
    if (NATIVE.test(file.name)) throw new ZipError(`compiled extension ${file.name}: ${NATIVE_HELP}`);
    const parts = file.name.split("/");
    parts.forEach((_, i) => {
      const prefix = parts.slice(0, i + 1).join("/");
      const want = i === parts.length - 1 ? "file" : "dir";
      const seen = kinds.get(prefix);
      if (seen !== undefined && (seen !== want || want === "file")) throw new ZipError(seen === want ? `duplicate member: ${prefix}` : `${prefix} is both a file and a directory`);
      kinds.set(prefix, want);
    });
  }
  const bytes = files.reduce((sum, file) => sum + file.data.length, 0);
  const buffer = new Uint8Array(bytes);
  let offset = 0;
  const packed = [...files].sort((a, b) => (a.name < b.name ? -1 : 1)).map((file) => {
    buffer.set(file.data, offset);
    const data = buffer.subarray(offset, (offset += file.data.length));
    return { name: file.name, data };
  });
  return { path, hash, kind, files: packed, bytes, distributions };
}

/** A directory's regular files, walked without following links; a link or special file is refused. */
function readDirectory(root: string): ZipMember[] {
  const files: ZipMember[] = [];
  let total = 0;
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const relative = prefix === "" ? name : `${prefix}/${name}`;
      checkMemberName(relative);
      const full = join(dir, name);
      const stat = lstatSync(full);
      if (stat.isSymbolicLink()) throw new ZipError(`${relative}: a symlink (packages hold regular files only)`);
      if (stat.isDirectory()) {
        walk(full, relative);
        continue;
      }
      if (!stat.isFile()) throw new ZipError(`${relative}: not a regular file`);
      if (files.length >= PACKAGE_LIMITS.maxMembers) throw new ZipError(`too many files (at most ${PACKAGE_LIMITS.maxMembers})`);
      const data = readBounded(full, Math.min(PACKAGE_LIMITS.maxMemberBytes, PACKAGE_LIMITS.maxTotalBytes - total));
      total += data.length;
      files.push({ name: relative, data });
    }
  };
  walk(root, "");
  return files;
}

/** A file's bytes, refusing one larger than `limit` (read at most limit + 1 bytes, whatever its size says). */
function readBounded(path: string, limit: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size > limit) throw new ZipError(`${basename(path)} is ${size} bytes, over the ${limit}-byte limit`);
    const buffer = Buffer.alloc(size + 1);
    let length = 0;
    for (let n; length < buffer.length && (n = readSync(fd, buffer, length, buffer.length - length, null)) > 0;) length += n;
    if (length > size) throw new ZipError(`${basename(path)} grew while it was read`);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads and checks every package of a sandbox, then the set: no two laying
 * the same file or the same distribution, every applicable Requires-Dist
 * provided by a named package or the standard library. Returns what the
 * worker needs (an entry named twice is kept once).
 */
export function checkPackages(paths: readonly string[]): PackageRef[] {
  const chosen: Array<{ layer: PackageLayer; option: string }> = [];
  paths.forEach((path, i) => {
    const layer = loadPackage(path, `packages[${i}]`);
    if (!chosen.some((c) => c.layer.hash === layer.hash)) chosen.push({ layer, option: `packages[${i}]` });
  });
  checkOverlaps(chosen);
  checkRequirements(chosen);
  return chosen.map(({ layer }) => ({ path: layer.path, hash: layer.hash }));
}

function checkOverlaps(chosen: Array<{ layer: PackageLayer; option: string }>): void {
  const owners = new Map<string, { path: string; dir: boolean }>();
  const distributions = new Map<string, string>();
  for (const { layer, option } of chosen) {
    for (const distribution of layer.distributions) {
      const name = normalizeName(distribution.name);
      const other = distributions.get(name);
      if (other !== undefined) throw new PackageError(option, layer.path, `${distribution.name} is also provided by ${other}`);
      distributions.set(name, layer.path);
    }
    const mine = new Map<string, boolean>();
    for (const file of layer.files) {
      const parts = file.name.split("/");
      parts.forEach((_, i) => mine.set(parts.slice(0, i + 1).join("/"), i < parts.length - 1));
    }
    for (const [name, dir] of mine) {
      const other = owners.get(name);
      if (other !== undefined && !(dir && other.dir)) throw new PackageError(option, layer.path, `${name} is also laid by ${other.path} (two packages may share directories, not files)`);
      owners.set(name, { path: layer.path, dir });
    }
  }
}

function checkRequirements(chosen: Array<{ layer: PackageLayer; option: string }>): void {
  const provided = new Set<string>(stdlibModuleNames().map(normalizeName));
  for (const { layer } of chosen) {
    for (const distribution of layer.distributions) provided.add(normalizeName(distribution.name));
    for (const file of layer.files) provided.add(normalizeName(file.name.split("/")[0]!.replace(/\.py$/, "")));
  }
  for (const { layer, option } of chosen) {
    for (const distribution of layer.distributions) {
      for (const line of distribution.requires) {
        const requirement = applicableRequirement(line);
        if (requirement !== null && !provided.has(requirement.name)) {
          throw new PackageError(option, layer.path, `missing dependency ${requirement.name}: ${distribution.name} ${distribution.version} requires "${requirement.line}", which no named package provides (add its wheel to packages)`);
        }
      }
    }
  }
}
