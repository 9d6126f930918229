// The standard library's top-level module names, from the default engine's
// stdlib image index (a Requires-Dist such as "argparse" or "dataclasses" is
// met by the stdlib). Read once per process; an engine without the image
// (the file missing) provides no names, so such a requirement is reported.
import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { ENGINE_DIR } from "../shared/defaults.js";

/** The image's header: "PYVIMG01" | u32 LE index length | JSON index {files: [[path, offset, size]]} (vfs/image.ts). */
const HEADER_BYTES = 12;
/** An index larger than this is not read (the real one is a few hundred KiB). */
const MAX_INDEX_BYTES = 16 * 1024 * 1024;

let names: string[] | null = null;

export function stdlibModuleNames(): string[] {
  names ??= readNames(join(ENGINE_DIR, "stdlib.img"));
  return names;
}

function readNames(imagePath: string): string[] {
  let fd: number;
  try {
    fd = openSync(imagePath, "r");
  } catch {
    return [];
  }
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    if (readSync(fd, header, 0, HEADER_BYTES, 0) !== HEADER_BYTES || header.toString("latin1", 0, 8) !== "PYVIMG01") return [];
    const length = header.readUInt32LE(8);
    if (length > MAX_INDEX_BYTES) return [];
    const index = Buffer.alloc(length);
    if (readSync(fd, index, 0, length, HEADER_BYTES) !== length) return [];
    const { files } = JSON.parse(index.toString("utf8")) as { files: Array<[string, number, number]> };
    const tops = new Set<string>();
    for (const [path] of files) {
      const top = path.split("/")[0]!;
      if (path.includes("/") || top.endsWith(".py")) tops.add(top.replace(/\.py$/, ""));
    }
    return [...tops];
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
}
