// Character devices: /dev/null, /dev/zero, /dev/urandom, and stream devices
// whose reads and writes are served by the kernel (the host channel).
import { randomFillSync } from "node:crypto";
import { FileType } from "../shared/wasi.js";
import { type DeviceNode, type FileHandle, type MountContext, type Stat } from "./node.js";

export interface StreamOps {
  read(length: number): Uint8Array;
  write(data: Uint8Array): number;
}

export class StreamDevice implements DeviceNode {
  readonly kind = "device";
  private readonly ino: bigint;
  constructor(readonly mount: MountContext, private readonly ops: StreamOps) {
    this.ino = mount.inodes.allocate();
  }
  stat(): Stat {
    const now = this.mount.now();
    return { ino: this.ino, type: FileType.CHARACTER_DEVICE, nlink: 1n, size: 0n, atimeNs: now, mtimeNs: now, ctimeNs: now };
  }
  setTimes(): void {}
  open(): FileHandle {
    return {
      read: (_position, length) => this.ops.read(length),
      write: (_position, data) => this.ops.write(data),
      size: () => 0,
      truncate: () => {},
      stat: () => this.stat(),
      setTimes: () => {},
      sync: () => {},
      close: () => {},
    };
  }
}

export function nullDevice(mount: MountContext): StreamDevice {
  return new StreamDevice(mount, { read: () => new Uint8Array(0), write: (data) => data.length });
}
export function zeroDevice(mount: MountContext): StreamDevice {
  return new StreamDevice(mount, { read: (length) => new Uint8Array(length), write: (data) => data.length });
}
/** `random` is the sandbox's source: the host CSPRNG, or a seeded generator in deterministic mode. */
export function randomDevice(mount: MountContext, random: (buffer: Uint8Array) => void = randomFillSync): StreamDevice {
  return new StreamDevice(mount, {
    read: (length) => {
      const bytes = new Uint8Array(length);
      random(bytes);
      return bytes;
    },
    write: (data) => data.length,
  });
}
