// What the guest learns about the world: its environment, clocks and
// randomness. Nothing comes from the host unless the host passes it in. In
// deterministic mode the clocks start at a fixed instant and advance only as
// the guest reads them or sleeps, and randomness comes from a seeded PRNG.
import { randomFillSync } from "node:crypto";

export interface IdentitySpec {
  env: Record<string, string>;
  cwd: string;
  deterministic: boolean;
  /** Seed for deterministic randomness. */
  seed: number;
  /**
   * Where the monotonic clock starts, in ns: a sandbox restored from a
   * template's state continues the clock its setup read, so that a time the
   * setup kept is never ahead of the sandbox's. Default 0.
   */
  monotonicStartNs?: bigint;
}

/** 2000-01-01T00:00:00Z, the deterministic clock's epoch. */
const DETERMINISTIC_EPOCH_NS = 946_684_800_000_000_000n;
/** How far a deterministic clock moves per read, so that loops waiting on time still end. */
const DETERMINISTIC_STEP_NS = 1_000n;

export class Identity {
  private virtualNs = 0n;
  private readonly prng: SplitMix64 | null;
  private readonly startNs = process.hrtime.bigint();

  constructor(readonly spec: IdentitySpec) {
    this.prng = spec.deterministic ? new SplitMix64(BigInt(spec.seed)) : null;
  }

  environ(): string[] {
    return Object.entries(this.spec.env).map(([k, v]) => `${k}=${v}`);
  }

  realtimeNs(): bigint {
    if (this.spec.deterministic) return DETERMINISTIC_EPOCH_NS + this.step();
    return BigInt(Date.now()) * 1_000_000n;
  }

  monotonicNs(): bigint {
    if (this.spec.deterministic) return this.step();
    return process.hrtime.bigint() - this.startNs + (this.spec.monotonicStartNs ?? 0n);
  }

  /** Deterministic sleeps advance the virtual clock instead of waiting. */
  advance(ns: bigint): void {
    this.virtualNs += ns;
  }

  private step(): bigint {
    this.virtualNs += DETERMINISTIC_STEP_NS;
    return this.virtualNs;
  }

  /** What a saved sandbox carries: the virtual clock and the PRNG's position (deterministic mode). */
  exportState(): { virtualNs: bigint; prng: bigint | null } {
    return { virtualNs: this.virtualNs, prng: this.prng?.position ?? null };
  }
  importState(state: { virtualNs: bigint; prng: bigint | null }): void {
    this.virtualNs = state.virtualNs;
    if (this.prng !== null && state.prng !== null) this.prng.position = state.prng;
  }

  fillRandom(buffer: Uint8Array): void {
    if (this.prng === null) randomFillSync(buffer);
    else this.prng.fill(buffer);
  }
}

/** SplitMix64: small, fast, and good enough for reproducible (not secret) randomness. */
class SplitMix64 {
  constructor(private state: bigint) {}
  get position(): bigint {
    return this.state;
  }
  set position(state: bigint) {
    this.state = BigInt.asUintN(64, state);
  }
  next(): bigint {
    this.state = BigInt.asUintN(64, this.state + 0x9e3779b97f4a7c15n);
    let z = this.state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return z ^ (z >> 31n);
  }
  fill(buffer: Uint8Array): void {
    for (let i = 0; i < buffer.length; i += 8) {
      let word = this.next();
      for (let j = i; j < Math.min(i + 8, buffer.length); j++) {
        buffer[j] = Number(word & 0xffn);
        word >>= 8n;
      }
    }
  }
}
