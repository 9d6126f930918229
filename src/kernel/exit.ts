// The one way a guest leaves the interpreter for good: proc_exit (syscalls-process.ts).

/** Thrown by proc_exit: unwinds the guest; the instance cannot be re-entered afterwards. */
export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`guest exited with status ${code}`);
  }
}
