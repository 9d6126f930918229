// The one path resolver. Every path syscall goes through here, component by
// component, with a stack of the directories walked so far: `..` pops the
// stack (never below the sandbox root), a symlink's target is pushed back onto
// the component list (an absolute target restarts at the sandbox root, never
// the host's), and more than MAX_SYMLINK_EXPANSIONS expansions is ELOOP.
// No path text is ever edited to resolve `..`.
import { Errno } from "../shared/errno.js";
import { fail, type DirNode, type SymlinkNode, type VNode } from "./node.js";

export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
export const MAX_SYMLINK_EXPANSIONS = 40;

export interface Resolved {
  /** Directories from the root to the parent of the final component. */
  parents: DirNode[];
  /** The final component ("." when the path names a directory by `.`/`..`/`/`). */
  name: string;
  /** The node the path names, or undefined when the final component does not exist. */
  node: VNode | undefined;
  /** The path ended in `/`: the result must be a directory. */
  trailingSlash: boolean;
  /** The absolute sandbox path of the result after every `..` and symlink (for policy and traces). */
  path: string;
}

/** Checks a guest path's shape before any lookup. */
export function checkPath(path: string): void {
  if (path.includes("\0")) fail(Errno.INVAL, "path contains a NUL byte");
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) fail(Errno.NAMETOOLONG);
}

function splitComponents(path: string): string[] {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) fail(Errno.NAMETOOLONG);
    parts.push(part);
  }
  return parts;
}

/**
 * Resolves `path` from the directory stack `start` (root first). With
 * `followFinal`, a symlink in the last component is followed too; intermediate
 * symlinks always are. A missing final component is not an error (callers that
 * create decide); a missing intermediate one is ENOENT.
 */
export function resolve(root: DirNode, start: DirNode[], path: string, followFinal: boolean, startNames: string[] = []): Resolved {
  checkPath(path);
  if (path === "") fail(Errno.NOENT);
  let stack = path.startsWith("/") ? [root] : [...start];
  // names[i] is the name of stack[i + 1] in its parent.
  let names = path.startsWith("/") ? [] : [...startNames];
  const at = (parents: DirNode[], name: string, node: VNode | undefined): Resolved => ({
    parents, name, node, trailingSlash,
    path: "/" + (name === "." ? names : [...names, name]).join("/"),
  });
  const pending = splitComponents(path).reverse(); // a stack: next component last
  const trailingSlash = path.endsWith("/") || path.endsWith("/.");
  let expansions = 0;

  if (pending.length === 0) return at(stack.slice(0, -1), ".", top(stack));

  while (pending.length > 0) {
    const name = pending.pop()!;
    const isLast = pending.length === 0;
    const dir = top(stack);
    if (name === "..") {
      if (stack.length > 1) {
        stack = stack.slice(0, -1);
        names = names.slice(0, -1);
      }
      if (isLast) return at(stack.slice(0, -1), ".", top(stack));
      continue;
    }
    const node = dir.lookup(name);
    if (node === undefined) {
      if (!isLast) fail(Errno.NOENT);
      return at(stack, name, undefined);
    }
    if (node.kind === "symlink" && (!isLast || followFinal || trailingSlash)) {
      if (++expansions > MAX_SYMLINK_EXPANSIONS) fail(Errno.LOOP, "too many levels of symbolic links");
      const target = (node as SymlinkNode).readlink();
      checkPath(target);
      if (target === "") fail(Errno.NOENT);
      if (target.startsWith("/")) {
        stack = [root];
        names = [];
      }
      const targetParts = splitComponents(target);
      if (targetParts.length === 0 && isLast) {
        return at(stack.slice(0, -1), ".", top(stack));
      }
      for (let i = targetParts.length - 1; i >= 0; i--) pending.push(targetParts[i]!);
      continue;
    }
    if (isLast) {
      if (trailingSlash && node.kind !== "dir") fail(Errno.NOTDIR);
      return at(stack, name, node);
    }
    if (node.kind !== "dir") fail(Errno.NOTDIR);
    stack = [...stack, node as DirNode];
    names = [...names, name];
  }
  // Unreachable: the loop returns on the last component.
  return fail(Errno.NOENT);
}

function top(stack: DirNode[]): DirNode {
  return stack[stack.length - 1]!;
}

