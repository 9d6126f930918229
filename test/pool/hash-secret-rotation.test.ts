// Every sandbox restored from one snapshot shares its str hash secret: a
// worker replaces its snapshot (booted on a helper thread) after N sandboxes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidOptionsError, Pool, Sandbox } from "../../src/api/index.js";

async function hashesOf(pool: Pool, sandboxes: number): Promise<Set<unknown>> {
  const seen = new Set<unknown>();
  for (let i = 0; i < sandboxes; i++) {
    const sb = await Sandbox.create({ pool });
    try {
      seen.add((await sb.run("hash('abc')")).value);
    } finally {
      await sb.dispose();
    }
    // The rotation is in the background: give the helper thread time to boot.
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  return seen;
}

test("a worker rotates its snapshot after N sandboxes: hash('abc') changes across rotations", async () => {
  const pool = new Pool({ size: 1, isolation: "thread", hashSecretRotation: { sandboxes: 2 } });
  try {
    assert.ok((await hashesOf(pool, 24)).size >= 2);
  } finally {
    await pool.close();
  }
});

test("with rotation off, every sandbox of a worker shares one hash secret", async () => {
  const pool = new Pool({ size: 1, isolation: "thread", hashSecretRotation: false });
  try {
    assert.equal((await hashesOf(pool, 6)).size, 1);
  } finally {
    await pool.close();
  }
});

test("rotation options out of range are refused, naming the option", () => {
  assert.throws(() => new Pool({ hashSecretRotation: { sandboxes: 0 } }), (e: unknown) => e instanceof InvalidOptionsError && e.option === "hashSecretRotation.sandboxes");
  assert.throws(() => new Pool({ hashSecretRotation: { ms: 10 } }), (e: unknown) => e instanceof InvalidOptionsError && e.option === "hashSecretRotation.ms");
});
