// A package named in SandboxOptions.packages (a wheel, a zip archive or a
// directory), keyed by the hash of its content. The host checks every package
// once per content (and the set: no two laying the same file, no missing
// Requires-Dist) before a sandbox starts, and keeps only names and metadata;
// a worker unpacks the same file again, once per content, into a layer (its
// files, data in one buffer) for the read-only tree its sandboxes share
// (worker/packages.ts), and refuses it if its content changed in between.
import { createHash } from "node:crypto";
import { closeSync, fstatSync, lstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { PackageError } from "../shared/errors.js";
import type { PackageRef } from "../shared/spec.js";
import { checkWheel, normalizeName, quote, readMetadata, type Distribution } from "./wheel.js";
import { applicableRequirement } from "./requirements.js";
import { stdlibModuleNames } from "./stdlib-names.js";
import { checkMemberName, readZip, ZipError, type ZipLimits, type ZipMember } from "./zip.js";

/**
 * What one package may hold: 10 000 files, 64 MiB a file, 256 MiB in all
 * (uncompressed; the archive itself is bounded by the total too).
 */
export const PACKAGE_LIMITS: Readonly<ZipLimits> = Object.freeze({ maxMembers: 10_000, maxMemberBytes: 64 * 1024 * 1024, maxTotalBytes: 256 * 1024 * 1024 });

/** What the host keeps of a package it checked: its file names and metadata, not its data. */
export interface PackageSummary {
  /** Absolute host path. */
  path: string;
  hash: string;
  kind: "wheel" | "zip" | "directory";
  /** Files, relative to the site directory. */
  names: string[];
  distributions: Distribution[];
}

/** A package unpacked: its files, relative to the site directory, sorted by name; data are views into one buffer. */
export interface PackageLayer extends PackageSummary {
  files: ZipMember[];
  bytes: number;
}

const NATIVE = /\.(so|pyd|dll|dylib)$|\.so\./i;
const NATIVE_HELP = "pyvisor runs pure Python only: CPython on WebAssembly cannot load native code (use the library's pure-Python version, or a py3-none-any wheel)";

/** Packages this process checked, by content hash. */
const checked = new Map<string, PackageSummary>();
/** A file's hash by its stat identity, so an unchanged wheel is not read and hashed again on every create. */
const fileHashes = new Map<string, { identity: string; hash: string }>();

/** A package read and hashed, to be unpacked (checked) on demand. */
interface Source {
  kind: PackageSummary["kind"];
  hash: string;
  unpack(): { files: ZipMember[]; distributions: Distribution[] };
}

/**
 * Checks `path` once per content for this process (the host, before a
 * sandbox starts); throws PackageError (`option` names the entry).
 */
export function checkPackage(path: string, option: string): PackageSummary {
  return guarded(path, option, (absolute) => {
    const known = fileHashes.get(absolute);
    const identity = statIdentity(absolute);
    if (known !== undefined && known.identity === identity && checked.has(known.hash)) return checked.get(known.hash)!;
    const source = open(absolute);
    if (source.kind !== "directory") fileHashes.set(absolute, { identity, hash: source.hash });
    let summary = checked.get(source.hash);
    if (summary === undefined) {
      const { files, distributions } = source.unpack();
      checkFiles(files);
      summary = { path: absolute, hash: source.hash, kind: source.kind, names: files.map((f) => f.name), distributions };
      checked.set(source.hash, summary);
    }
    return summary;
  });
}

/** Reads, checks and unpacks `path` (a worker, once per content: it keeps the tree, worker/packages.ts). */
export function loadPackage(path: string, option: string): PackageLayer {
  return guarded(path, option, (absolute) => {
    const source = open(absolute);
    const { files, distributions } = source.unpack();
    checkFiles(files);
    const packed = pack(files);
    return { path: absolute, hash: source.hash, kind: source.kind, names: packed.files.map((f) => f.name), distributions, ...packed };
  });
}

/** Runs `body` on the absolute path; its failures become PackageErrors naming `path` as given. */
function guarded<T>(path: string, option: string, body: (absolute: string) => T): T {
  try {
    return body(resolve(path));
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

/**
 * Reads a package and hashes its content: a file's bytes (with, for a wheel,
 * its name, which the checks read); a directory's names, sizes and file hashes.
 */
function open(absolute: string): Source {
  const stat = statSync(absolute);
  if (stat.isDirectory()) {
    const files = readDirectory(absolute);
    const hash = createHash("sha256").update("directory\0");
    for (const file of files) hash.update(`${file.name}\0${file.data.length}\0`).update(createHash("sha256").update(file.data).digest());
    return { kind: "directory", hash: hash.digest("hex"), unpack: () => ({ files, distributions: distributionsOf(files) }) };
  }
  if (!stat.isFile()) throw new ZipError("not a file or a directory");
  const kind = /\.whl$/i.test(absolute) ? "wheel" : "zip";
  const bytes = readBounded(absolute, PACKAGE_LIMITS.maxTotalBytes);
  const hash = createHash("sha256").update(`${kind}\0${kind === "wheel" ? basename(absolute) : ""}\0`).update(bytes).digest("hex");
  return { kind, hash, unpack: () => unpackArchive(absolute, kind, bytes) };
}

function unpackArchive(path: string, kind: "wheel" | "zip", bytes: Uint8Array): { files: ZipMember[]; distributions: Distribution[] } {
  const members = readZip(bytes, PACKAGE_LIMITS);
  if (kind === "wheel") {
    const { files, distribution } = checkWheel(basename(path), members);
    return { files, distributions: [distribution] };
  }
  return { files: members, distributions: distributionsOf(members) };
}

/** A zip's or directory's metadata: each top-level *.dist-info with a METADATA. */
function distributionsOf(files: ZipMember[]): Distribution[] {
  const dirs = new Set(files.filter((f) => /^[^/]+\.dist-info\/METADATA$/.test(f.name)).map((f) => f.name.split("/")[0]!));
  return [...dirs].sort().map((dir) => readMetadata(files, dir));
}

/** The files' names once more (a wheel's purelib moved to the root may collide) and no native code. */
function checkFiles(files: ZipMember[]): void {
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
}

/** The files sorted by name, their data copied into one buffer (one allocation per layer, shared by its sandboxes). */
function pack(files: ZipMember[]): { files: ZipMember[]; bytes: number } {
  const bytes = files.reduce((sum, file) => sum + file.data.length, 0);
  const buffer = new Uint8Array(bytes);
  let offset = 0;
  const packed = [...files].sort((a, b) => (a.name < b.name ? -1 : 1)).map((file) => {
    buffer.set(file.data, offset);
    const data = buffer.subarray(offset, (offset += file.data.length));
    return { name: file.name, data };
  });
  return { files: packed, bytes };
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
  const chosen: Array<{ layer: PackageSummary; option: string }> = [];
  paths.forEach((path, i) => {
    const layer = checkPackage(path, `packages[${i}]`);
    if (!chosen.some((c) => c.layer.hash === layer.hash)) chosen.push({ layer, option: `packages[${i}]` });
  });
  checkOverlaps(chosen);
  checkRequirements(chosen);
  return chosen.map(({ layer }) => ({ path: layer.path, hash: layer.hash }));
}

function checkOverlaps(chosen: Array<{ layer: PackageSummary; option: string }>): void {
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
    for (const name of layer.names) {
      const parts = name.split("/");
      parts.forEach((_, i) => mine.set(parts.slice(0, i + 1).join("/"), i < parts.length - 1));
    }
    for (const [name, dir] of mine) {
      const other = owners.get(name);
      if (other !== undefined && !(dir && other.dir)) throw new PackageError(option, layer.path, `${name} is also laid by ${other.path} (two packages may share directories, not files)`);
      owners.set(name, { path: layer.path, dir });
    }
  }
}

function checkRequirements(chosen: Array<{ layer: PackageSummary; option: string }>): void {
  const provided = new Set<string>(stdlibModuleNames().map(normalizeName));
  for (const { layer } of chosen) {
    for (const distribution of layer.distributions) provided.add(normalizeName(distribution.name));
    for (const name of layer.names) provided.add(normalizeName(name.split("/")[0]!.replace(/\.py$/, "")));
  }
  for (const { layer, option } of chosen) {
    for (const distribution of layer.distributions) {
      for (const line of distribution.requires) {
        const requirement = applicableRequirement(line);
        if (requirement !== null && !provided.has(requirement.name)) {
          throw new PackageError(option, layer.path, `missing dependency ${requirement.name}: ${distribution.name} ${distribution.version} requires ${quote(requirement.line)}, which no named package provides (add its wheel to packages)`);
        }
      }
    }
  }
}
