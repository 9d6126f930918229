import { writeFileSync } from "node:fs";
// Numeric `--name N` flags of the bench commands.
export function numberOption(args: readonly string[], name: string, fallback: number): number {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
}

/** `--json FILE`: the runner also writes its figures there, for `npm run bench` (bench/all). */
export function writeFigures(args: readonly string[], figures: object): void {
  const at = args.indexOf("--json");
  if (at >= 0 && args[at + 1] !== undefined) writeFileSync(args[at + 1]!, JSON.stringify(figures, null, 2) + "\n");
}
