// What makes a wheel usable by pyvisor's CPython 3.13 on WebAssembly: a pure
// tag (abi none, platform any, a Python 3 tag no newer than 3.13),
// Root-Is-Purelib, a RECORD listing every file with its right sha256 and size,
// and its METADATA (name, version, Requires-Dist). Failures throw ZipError
// (the cause; the caller adds the file).
import { createHash } from "node:crypto";
import { ZipError, type ZipMember } from "./zip.js";

/** One distribution's metadata, from a .dist-info directory. */
export interface Distribution {
  name: string;
  version: string;
  /** Requires-Dist lines, verbatim. */
  requires: string[];
}

const PYTHON_MINOR = 13;
const TAG_HELP = "pyvisor runs pure-Python wheels only (abi \"none\", platform \"any\", a Python tag such as py3, py2.py3 or py3N/cp3N with N <= 13): a wheel tagged for a platform holds native code, which CPython on WebAssembly cannot load";
const RECORD_HASHES = new Set(["sha256", "sha384", "sha512"]);

/** Text from a package, fit for a message: JSON-quoted (control characters escaped) and cut at 100 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

/** PEP 503's normal form of a distribution name: "Jinja2", "jinja_2" and "jinja.2" name one project. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

/** A wheel's file name: name-version(-build)?-python-abi-platform.whl; its tags must be pure. */
export function checkWheelName(fileName: string): { name: string; version: string } {
  const parts = fileName.replace(/\.whl$/i, "").split("-");
  if (parts.length !== 5 && parts.length !== 6) throw new ZipError(`not a wheel file name (name-version-python-abi-platform.whl): ${fileName}`);
  const [name, version] = parts as [string, string];
  checkTag(parts.slice(-3).join("-"));
  return { name, version };
}

/** A compressed tag set ("py2.py3-none-any"): every ABI none, every platform any, and some Python tag that 3.13 runs. */
function checkTag(tag: string): void {
  const [pythons, abis, platforms] = tag.split("-").map((part) => part.split(".")) as [string[], string[], string[]];
  const runs = (python: string) => {
    const match = /^(py|cp)3(\d*)$/.exec(python);
    return match !== null && (match[2] === "" ? match[1] === "py" : Number(match[2]) <= PYTHON_MINOR);
  };
  if (!abis.every((abi) => abi === "none") || !platforms.every((p) => p === "any") || !pythons.some(runs)) {
    throw new ZipError(`unsupported tag ${tag}: ${TAG_HELP}`);
  }
}

/** Checks a wheel's contents against its name: dist-info, WHEEL, RECORD; returns the files to install and its metadata. */
export function checkWheel(fileName: string, members: ZipMember[]): { files: ZipMember[]; distribution: Distribution } {
  const { name } = checkWheelName(fileName);
  const distInfo = findDistInfo(members, name);
  const wheelFile = text(members, `${distInfo}/WHEEL`);
  const root = headers(wheelFile);
  if (!/^1\./.test(root.get("wheel-version")?.[0] ?? "")) throw new ZipError(`${distInfo}/WHEEL: Wheel-Version is not 1.x`);
  if (root.get("root-is-purelib")?.[0]?.toLowerCase() !== "true") throw new ZipError(`${distInfo}/WHEEL: Root-Is-Purelib is not true (a platform wheel: ${TAG_HELP})`);
  for (const tag of root.get("tag") ?? []) checkTag(tag);
  checkRecord(members, distInfo);
  return { files: installed(members, name), distribution: readMetadata(members, distInfo) };
}

function findDistInfo(members: ZipMember[], name: string): string {
  const dirs = new Set(members.map((m) => m.name.split("/")[0]!).filter((top) => top.endsWith(".dist-info")));
  const ours = [...dirs].filter((dir) => normalizeName(dir.slice(0, -".dist-info".length).split("-")[0]!) === normalizeName(name));
  if (ours.length !== 1) throw new ZipError(ours.length === 0 ? `no ${name}-*.dist-info directory` : `several ${name} .dist-info directories`);
  return ours[0]!;
}

/**
 * RECORD lists every file but itself (and its signatures) with "algorithm=digest"
 * (urlsafe base64, unpadded) and its size; each must match, and no file may
 * be missing from it.
 */
function checkRecord(members: ZipMember[], distInfo: string): void {
  const recordName = `${distInfo}/RECORD`;
  const listed = new Map<string, { hash: string; size: string }>();
  for (const row of parseCsv(text(members, recordName))) {
    const [path = "", hash = "", size = ""] = row;
    if (path === "") continue;
    if (listed.has(path)) throw new ZipError(`${recordName}: ${quote(path)} is listed twice`);
    listed.set(path, { hash, size });
  }
  const unsigned = new Set([recordName, `${recordName}.jws`, `${recordName}.p7s`]);
  for (const member of members) {
    if (unsigned.has(member.name)) continue;
    const entry = listed.get(member.name);
    if (entry === undefined) throw new ZipError(`${member.name} is not in ${recordName}`);
    listed.delete(member.name);
    const [algorithm = "", digest] = entry.hash.split("=", 2);
    if (!RECORD_HASHES.has(algorithm) || digest === undefined) throw new ZipError(`${recordName}: ${member.name} has no sha256 hash`);
    if (createHash(algorithm).update(member.data).digest("base64url") !== digest) throw new ZipError(`bad RECORD hash for ${member.name} (the file differs from what ${recordName} says)`);
    if (entry.size !== String(member.data.length)) throw new ZipError(`bad RECORD size for ${member.name}: ${member.data.length} bytes, RECORD says ${JSON.stringify(entry.size)}`);
  }
  for (const path of listed.keys()) if (!unsigned.has(path)) throw new ZipError(`${recordName} lists ${quote(path)}, which the wheel does not hold`);
}

/**
 * The files to lay out: the root, and `name.data/purelib` moved to it;
 * scripts, headers and data are not installed; platlib is native code.
 */
function installed(members: ZipMember[], name: string): ZipMember[] {
  const files: ZipMember[] = [];
  for (const member of members) {
    const [top = "", scheme, ...rest] = member.name.split("/");
    if (!top.endsWith(".data") || normalizeName(top.slice(0, -5).split("-")[0]!) !== normalizeName(name)) files.push(member);
    else if (scheme === "platlib") throw new ZipError(`${member.name}: platlib files are native code (${TAG_HELP})`);
    else if (scheme === "purelib" && rest.length > 0) files.push({ name: rest.join("/"), data: member.data });
  }
  return files;
}

/** Name, Version and Requires-Dist of a METADATA (or PKG-INFO) file. */
export function readMetadata(members: ZipMember[], distInfo: string): Distribution {
  const fields = headers(text(members, `${distInfo}/METADATA`));
  const name = fields.get("name")?.[0];
  const version = fields.get("version")?.[0];
  if (name === undefined || version === undefined) throw new ZipError(`${distInfo}/METADATA has no Name or Version`);
  // Both appear in messages and in the guest's importlib.metadata: project-name and version characters only.
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$/.test(name)) throw new ZipError(`${distInfo}/METADATA: Name ${quote(name)} is not a project name`);
  if (!/^[A-Za-z0-9.+!_-]{1,100}$/.test(version)) throw new ZipError(`${distInfo}/METADATA: Version ${quote(version)} is not a version`);
  return { name, version, requires: fields.get("requires-dist") ?? [] };
}

function text(members: ZipMember[], name: string): string {
  const member = members.find((m) => m.name === name);
  if (member === undefined) throw new ZipError(`no ${name}`);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(member.data);
  } catch {
    throw new ZipError(`${name} is not UTF-8 text`);
  }
}

/** RFC 822-style headers (METADATA, WHEEL), up to the first blank line: lower-cased name -> values. */
function headers(source: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  let last: string[] | null = null;
  for (const line of source.split(/\r?\n/)) {
    if (line === "") break;
    if (/^[ \t]/.test(line) && last !== null) {
      last[last.length - 1] += `\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    last = fields.get(key) ?? [];
    last.push(line.slice(colon + 1).trim());
    fields.set(key, last);
  }
  return fields;
}

/** RECORD's CSV: comma-separated, double-quoted fields may hold commas and doubled quotes. */
function parseCsv(source: string): string[][] {
  const rows: string[][] = [];
  for (const line of source.split(/\r?\n/)) {
    if (line === "") continue;
    const row: string[] = [];
    let field = "";
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') (field += '"'), i++;
        else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") row.push(field), (field = "");
      else field += c;
    }
    row.push(field);
    rows.push(row);
  }
  return rows;
}
