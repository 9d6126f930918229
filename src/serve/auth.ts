// Bearer tokens. Each configured token is kept as its SHA-256 digest, and a
// presented token is hashed and compared with every digest in constant time
// (crypto.timingSafeEqual over equal-length digests), without stopping at a
// match: the time taken says nothing about how much of a token was right, nor
// which token matched.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

const digest = (token: string) => createHash("sha256").update(token, "utf8").digest();

export class Tokens {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = [...new Set(tokens)].map(digest);
    if (this.digests.length === 0) throw new Error("no token: set PYVISOR_TOKEN or pass --token-file");
  }

  /**
   * The owner of a request: an id derived from its token's digest (never the
   * token itself, so logs and metrics cannot leak it), or null when the
   * Authorization header holds no known bearer token.
   */
  identify(header: string | undefined): string | null {
    const match = /^Bearer +(\S+)\s*$/i.exec(header ?? "");
    if (!match) return null;
    const presented = digest(match[1]!);
    let owner: string | null = null;
    for (const known of this.digests) {
      if (timingSafeEqual(known, presented)) owner = known.toString("hex").slice(0, 16);
    }
    return owner;
  }
}

/** A token list: comma-separated (PYVISOR_TOKEN) or one a line (a token file; blank lines and # comments skipped). */
export function parseTokens(text: string, separator: "," | "\n"): string[] {
  return text.split(separator).map((t) => t.trim()).filter((t) => t !== "" && !t.startsWith("#"));
}

export function loadTokens(env: string | undefined, tokenFile: string | undefined): string[] {
  return [
    ...(env !== undefined ? parseTokens(env, ",") : []),
    ...(tokenFile !== undefined ? parseTokens(readFileSync(tokenFile, "utf8"), "\n") : []),
  ];
}
