// The fd table: what each guest fd refers to and which rights it carries.
import { Errno, FileType } from "../shared/wasi.js";
import { fail, fileTypeOf, type DirNode, type FileHandle, type VNode } from "../vfs/node.js";

export interface OpenFile {
  kind: "file" | "dir" | "stream";
  node: VNode;
  /** Directories: the stack from the root, for resolving relative paths. */
  stack?: DirNode[];
  /** Directories: the names along `stack` (its sandbox path), for policy checks and traces. */
  names?: string[];
  /** Files and directories: the resolved sandbox path it was opened by, for policy checks of calls through the fd. */
  path?: string;
  handle?: FileHandle;
  position: number;
  append: boolean;
  fdflags: number;
  rightsBase: bigint;
  rightsInheriting: bigint;
  /** Set for preopened directories: the name the guest sees in fd_prestat_dir_name. */
  preopen?: string;
  fileType: FileType;
}

export class FdTable {
  private readonly table = new Map<number, OpenFile>();
  constructor(private readonly maxFds: number) {}

  get size(): number {
    return this.table.size;
  }

  /** The entry for `fd` if it carries all of `rights`; EBADF / ENOTCAPABLE otherwise. */
  get(fd: number, rights = 0n): OpenFile {
    const entry = this.table.get(fd);
    if (entry === undefined) fail(Errno.BADF);
    if ((entry.rightsBase & rights) !== rights) fail(Errno.NOTCAPABLE);
    return entry;
  }

  dir(fd: number, rights = 0n): OpenFile & { stack: DirNode[]; names: string[] } {
    const entry = this.get(fd, rights);
    if (entry.kind !== "dir" || entry.stack === undefined) fail(Errno.NOTDIR);
    return entry as OpenFile & { stack: DirNode[]; names: string[] };
  }

  /** Lowest free fd, EMFILE at the limit. */
  add(entry: Omit<OpenFile, "fileType">): number {
    if (this.table.size >= this.maxFds) fail(Errno.MFILE, "too many open files");
    let fd = 0;
    while (this.table.has(fd)) fd++;
    this.table.set(fd, { ...entry, fileType: fileTypeOf(entry.node) });
    return fd;
  }

  set(fd: number, entry: Omit<OpenFile, "fileType">): void {
    this.table.set(fd, { ...entry, fileType: fileTypeOf(entry.node) });
  }

  close(fd: number): void {
    const entry = this.get(fd);
    this.table.delete(fd);
    entry.handle?.close();
  }

  renumber(from: number, to: number): void {
    const entry = this.get(from);
    if (from === to) return;
    this.get(to);
    this.close(to);
    this.table.delete(from);
    this.table.set(to, entry);
  }

  /** Closes every fd (host handles included): the sandbox is going away or resetting. */
  closeAll(): void {
    for (const entry of this.table.values()) {
      try {
        entry.handle?.close();
      } catch {
        // a host fd that is already gone: nothing left to release
      }
    }
    this.table.clear();
  }
}
