/**
 * One process per directory (a server's data directory, a runner's work
 * directory): an advisory lock on `<dir>/lock`, which the operating system
 * releases when the process ends, however it ends.
 *
 * @module
 */

/** Takes the lock of `dir` (which must exist): the open lock file to keep, or null when another process holds it. */
export function lockDirectory(dir: string): Deno.FsFile | null {
  const file = Deno.openSync(`${dir}/lock`, { create: true, write: true });
  if (file.tryLockSync(true)) return file;
  file.close();
  return null;
}
