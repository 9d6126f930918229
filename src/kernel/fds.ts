// The fd table: what each guest fd refers to and which rights it carries.
import { FileType } from "../shared/wasi.js";
import { Errno } from "../shared/errno.js";
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

/**
 * The driver's channel to the host. It is not in the table: no fd the program
 * can name with close, renumber, closerange or a loop over low numbers
 * reaches it (fds are C ints, and closerange's end is exclusive, so it stops
 * below this number). Only fd_read and fd_write on exactly this number do.
 */
export const CHANNEL_FD = 0x7fff_ffff;

export class FdTable {
  private readonly table = new Map<number, OpenFile>();
  private channel: OpenFile | null = null;
  /** `closed` hears of every entry that leaves the table (POSIX drops a process's record locks on a file when it closes any fd of it). */
  constructor(private readonly maxFds: number, private readonly closed: (entry: OpenFile) => void = () => {}) {}

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

  /** The entry fd_read and fd_write use: the table's, or the channel at CHANNEL_FD. */
  stream(fd: number, rights: bigint): OpenFile {
    if (fd === CHANNEL_FD && this.channel !== null) return this.channel;
    return this.get(fd, rights);
  }

  setChannel(entry: Omit<OpenFile, "fileType">): void {
    this.channel = { ...entry, fileType: fileTypeOf(entry.node) };
  }

  dir(fd: number, rights = 0n): OpenFile & { stack: DirNode[]; names: string[] } {
    const entry = this.get(fd, rights);
    if (entry.kind !== "dir" || entry.stack === undefined) fail(Errno.NOTDIR);
    return entry as OpenFile & { stack: DirNode[]; names: string[] };
  }

  /** Every open fd, lowest first (a save walks them). */
  entries(): Array<[number, OpenFile]> {
    return [...this.table].sort(([a], [b]) => a - b);
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

  /** Puts a fresh `entry` at `fd`, closing what the guest left there if it is another file. */
  restore(fd: number, entry: Omit<OpenFile, "fileType">): void {
    const current = this.table.get(fd);
    if (current !== undefined && current.node !== entry.node) {
      this.table.delete(fd);
      current.handle?.close();
      this.closed(current);
    }
    this.set(fd, entry);
  }

  /**
   * A preopened directory is not the program's to close or replace: it is
   * how every path resolves, and a program never opened it (on Linux fd 3
   * would not be open), so close and renumber answer EBADF, as for an fd
   * that is not open.
   */
  private owned(fd: number): OpenFile {
    const entry = this.get(fd);
    if (entry.preopen !== undefined) fail(Errno.BADF);
    return entry;
  }

  close(fd: number): void {
    const entry = this.owned(fd);
    this.table.delete(fd);
    entry.handle?.close();
    this.closed(entry);
  }

  renumber(from: number, to: number): void {
    const entry = this.owned(from);
    if (from === to) return;
    this.owned(to);
    this.close(to);
    this.table.delete(from);
    this.table.set(to, entry);
  }

  /** The open fds and the paths they were opened by, lowest first. */
  openFiles(): Array<[number, string | undefined]> {
    return [...this.table].sort(([a], [b]) => a - b).map(([fd, entry]) => [fd, entry.path]);
  }

  /** Closes every fd (host handles included): the sandbox is going away or resetting. */
  closeAll(): void {
    for (const entry of this.table.values()) {
      try {
        entry.handle?.close();
      } catch {
        // a host fd that is already gone: nothing left to release
      }
      this.closed(entry);
    }
    this.table.clear();
  }
}
