// An on-disk cache of the initialized-interpreter snapshot, for cold starts
// (the CLI): restoring 7 MiB beats booting CPython (~150-250 ms).
//
// The file is keyed by the engine (python.wasm, the stdlib image, the guest
// module) and checked before use: it must be owned by this user, in a
// directory only this user can write, and its contents must match the sha256
// in its header (corruption, truncation). A snapshot fixes the str hash
// secret, so every process that restores one file shares it: the cache is
// opt-in (the CLI uses it; pools make a fresh snapshot per process).
//   "PYVSNAP1" | u32 LE header length | JSON {key, sha256, byteLength, runs: [[offset, length]]} | data
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import type { Snapshot } from "./engine.js";

const MAGIC = "PYVSNAP1";

function isPrivate(path: string): boolean {
  const st = fs.lstatSync(path);
  const uid = process.getuid?.() ?? st.uid;
  return st.uid === uid && (st.mode & 0o022) === 0 && !st.isSymbolicLink();
}

export function readCachedSnapshot(dir: string, key: string): Snapshot | null {
  const file = join(dir, `${key}.snap`);
  try {
    if (!isPrivate(dir) || !isPrivate(file)) return null;
    const bytes = fs.readFileSync(file);
    if (bytes.subarray(0, 8).toString("latin1") !== MAGIC) return null;
    const headerLength = bytes.readUInt32LE(8);
    const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString("utf8")) as {
      key: string; sha256: string; byteLength: number; runs: Array<[number, number]>;
    };
    const data = bytes.subarray(12 + headerLength);
    if (header.key !== key || createHash("sha256").update(data).digest("hex") !== header.sha256) return null;
    let offset = 0;
    const runs = header.runs.map(([at, length]) => {
      const run = { offset: at, bytes: new Uint8Array(data.buffer, data.byteOffset + offset, length) };
      offset += length;
      if (at < 0 || at + length > header.byteLength || offset > data.length) throw new Error("bad run");
      return run;
    });
    return { byteLength: header.byteLength, runs };
  } catch {
    return null; // missing, unreadable or malformed: make a new one
  }
}

export function writeCachedSnapshot(dir: string, key: string, snapshot: Snapshot): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!isPrivate(dir)) return;
    const data = Buffer.concat(snapshot.runs.map((run) => run.bytes));
    const header = Buffer.from(JSON.stringify({
      key, sha256: createHash("sha256").update(data).digest("hex"), byteLength: snapshot.byteLength,
      runs: snapshot.runs.map((run) => [run.offset, run.bytes.length]),
    }));
    const prefix = Buffer.alloc(12);
    prefix.write(MAGIC, 0, "latin1");
    prefix.writeUInt32LE(header.length, 8);
    const temporary = join(dir, `.${key}.${randomBytes(6).toString("hex")}.tmp`);
    fs.writeFileSync(temporary, Buffer.concat([prefix, header, data]), { mode: 0o600 });
    fs.renameSync(temporary, join(dir, `${key}.snap`));
  } catch {
    // A cache that cannot be written only costs the next start its boot.
  }
}
