// Packs a directory into pyvisor's read-only stdlib image (see src/vfs/image.ts):
//   "PYVIMG01" | u32 LE index length | JSON {files: [[path, offset, size]]} | data
// Files are sorted by path so that the same tree always gives the same bytes.
//   node pack-image.mjs <dir> <out.img>
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  console.error("usage: node pack-image.mjs <dir> <out.img>");
  process.exit(2);
}
const files = [];
(function walk(rel) {
  for (const entry of readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) walk(path);
    else if (entry.isFile()) files.push(path);
  }
})("");
const chunks = [];
const index = [];
let offset = 0;
for (const path of files) {
  const data = readFileSync(join(dir, path));
  index.push([path, offset, data.length]);
  chunks.push(data);
  offset += data.length;
}
const indexBytes = Buffer.from(JSON.stringify({ files: index }));
const header = Buffer.alloc(12);
header.write("PYVIMG01", 0, "latin1");
header.writeUInt32LE(indexBytes.length, 8);
writeFileSync(out, Buffer.concat([header, indexBytes, ...chunks]));
console.log(`    ${files.length} files, ${offset} bytes of data -> ${out}`);
