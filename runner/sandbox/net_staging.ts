/**
 * Where the bubblewrap backend stages the inputs it shows a jail as `/net`,
 * so that the jail's mount table names no host path.
 *
 * A bind mount's entry in `/proc/self/mountinfo` shows its source as a path
 * inside the source's file system (the fourth field), whatever bind mounts
 * lie in between: a jail whose `/net` is bound from the sandbox's work
 * directory shows that directory's path (`/tmp/cloud-runner-…/sandbox/…`,
 * or wherever the operator put it). A file system whose root is the staging
 * area shows only what lies below that root. So the sandbox stages in a
 * directory of its own at the top of `/dev/shm` when that is a tmpfs of its
 * own (the jail then shows `/cloud-net-<random>/net-<n>`), hard-linking
 * inputs where they share its file system and copying them otherwise, up to
 * `bwrapNetCopyBytesMax` per job; a job with more gets a jail started for
 * it with each input bound from where it is (whose paths it then sees).
 * Without a usable `/dev/shm` the sandbox stages in its work directory, as
 * before.
 *
 * Copies live in memory (tmpfs). They are kept, up to `bwrapNetCacheBytesMax`
 * (least recently used out first), and hard-linked into each job that
 * names the same file again (a dataset every map job reads is copied once);
 * a job's links are removed after it. A runner killed before it could
 * remove them leaves them behind: the next sandbox made by the same user
 * removes every staging directory whose owner (named in its `owner` file by
 * pid and start time) is gone.
 *
 * @module
 */

import type { NetEntry } from "./net_names.ts";
import { bwrapNetCacheBytesMax } from "../../limits.ts";

/** The tmpfs that is staged in when it can be. */
export const stagingTmpfs = "/dev/shm";

/** Prefix of a staging directory's name in {@linkcode stagingTmpfs}. */
const stagingPrefix = "cloud-net-";

/**
 * Whether `mountinfo` (a `/proc/self/mountinfo`) has `mountPoint` as the root
 * of a tmpfs of its own (its last mount there, the one in effect, is a tmpfs
 * shown from `/`): a directory in it then shows as a path below `/`. Pure.
 */
export function isTmpfsRoot(mountinfo: string, mountPoint: string): boolean {
  let found = false;
  for (const line of mountinfo.split("\n")) {
    const [mount, filesystem] = line.split(" - ");
    const fields = mount?.split(" ") ?? [];
    if (fields.length < 5 || filesystem === undefined || fields[4] !== mountPoint) continue;
    found = fields[3] === "/" && filesystem.split(" ")[0] === "tmpfs";
  }
  return found;
}

/** A sandbox's staging directory: where its jails' `/net` directories are made. */
export interface NetStaging {
  readonly dir: string;
  /** True when `dir` is at the top of a tmpfs (nothing of the host shows). */
  readonly neutral: boolean;
  /** The copies of inputs from other file systems, kept for later jobs. */
  readonly copies: InputCopies;
}

/** One kept copy. */
interface Copy {
  readonly path: string;
  readonly bytes: number;
  /** Settles when the copy is complete (rejects if copying failed). */
  readonly ready: Promise<void>;
  settled: boolean;
  /** Callers between asking for this copy and linking it (it must stay). */
  users: number;
  /** When it was last asked for, on a counter. */
  used: number;
}

/**
 * Copies of input files in one directory, at most `bytesMax` bytes kept
 * (beyond that the least recently used are removed once no caller is
 * linking them; a link already made keeps its data). A file is known by
 * device, inode, size, modification and change time: the runner's inputs
 * never change, and a file that did would differ in one of these.
 */
export class InputCopies {
  /** The directory the copies are in. */
  readonly dir: string;
  readonly #bytesMax: number;
  readonly #copies = new Map<string, Copy>();
  #bytes = 0;
  #next = 0;
  #clock = 0;

  constructor(dir: string, bytesMax: number) {
    this.dir = dir;
    this.#bytesMax = bytesMax;
  }

  /** Bytes kept now (copies in progress included). */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Hard-links a copy of `source` (described by `info`) at `target`, copying
   * it first when none is kept. Throws `Error` if it cannot copy or link.
   */
  async link(source: string, info: Deno.FileInfo, target: string): Promise<void> {
    const key = [info.dev, info.ino, info.size, info.mtime?.getTime(), info.ctime?.getTime()]
      .join(":");
    let copy = this.#copies.get(key);
    if (copy === undefined) {
      const path = `${this.dir}/${this.#next++}`;
      const made: Copy = {
        path,
        bytes: info.size,
        ready: Deno.copyFile(source, path).finally(() => made.settled = true),
        settled: false,
        users: 0,
        used: 0,
      };
      copy = made;
      this.#copies.set(key, made);
      this.#bytes += made.bytes;
      made.ready.catch(() => this.#drop(key, made));
    }
    copy.used = ++this.#clock;
    copy.users++;
    try {
      await copy.ready;
      await Deno.link(copy.path, target);
    } finally {
      copy.users--;
      await this.#evict();
    }
  }

  /** Removes the least recently used copies no one is linking until within the bound. */
  async #evict(): Promise<void> {
    const removals: Promise<void>[] = [];
    while (this.#bytes > this.#bytesMax) {
      let oldest: [string, Copy] | undefined;
      for (const entry of this.#copies) {
        const copy = entry[1];
        if (
          copy.settled && copy.users === 0 && (oldest === undefined || copy.used < oldest[1].used)
        ) {
          oldest = entry;
        }
      }
      if (oldest === undefined) break;
      removals.push(this.#drop(...oldest));
    }
    await Promise.all(removals);
  }

  /** Forgets a copy and removes its file (never rejects). */
  async #drop(key: string, copy: Copy): Promise<void> {
    if (this.#copies.get(key) !== copy) return;
    this.#copies.delete(key);
    this.#bytes -= copy.bytes;
    await Deno.remove(copy.path).catch(() => {});
  }
}

/**
 * Makes the sandbox's staging directory in `options.tmpfs` (default
 * {@linkcode stagingTmpfs}) when that is a writable tmpfs of its own (first
 * removing stale ones of this user), else returns `fallbackDir` (the
 * sandbox's work directory). Never throws.
 */
export async function openNetStaging(
  fallbackDir: string,
  options: { tmpfs?: string } = {},
): Promise<NetStaging> {
  const tmpfs = options.tmpfs ?? stagingTmpfs;
  try {
    const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
    if (!isTmpfsRoot(mountinfo, tmpfs)) return await fallback(fallbackDir);
    await removeStale(tmpfs);
    const dir = await Deno.makeTempDir({ dir: tmpfs, prefix: stagingPrefix });
    await Deno.chmod(dir, 0o700);
    await Deno.writeTextFile(`${dir}/owner`, `${Deno.pid} ${startTime("self")}\n`);
    await Deno.mkdir(`${dir}/copies`);
    return { dir, neutral: true, copies: new InputCopies(`${dir}/copies`, bwrapNetCacheBytesMax) };
  } catch {
    return await fallback(fallbackDir);
  }
}

async function fallback(dir: string): Promise<NetStaging> {
  const copies = await Deno.makeTempDir({ dir, prefix: "copies-" });
  return { dir, neutral: false, copies: new InputCopies(copies, bwrapNetCacheBytesMax) };
}

/**
 * Removes what {@linkcode openNetStaging} made: the staging directory, or in
 * `fallbackDir` the copies' directory only.
 */
export async function closeNetStaging(staging: NetStaging): Promise<void> {
  const made = staging.neutral ? staging.dir : staging.copies.dir;
  await Deno.remove(made, { recursive: true }).catch(() => {});
}

/**
 * Puts each entry into `netDir`: a hard link where it can, else a link to a
 * copy (see {@linkcode InputCopies}) while the copied inputs of this call
 * stay within `copyBytesMax` bytes. False (some entries may be left in
 * `netDir`) when an entry fits neither way.
 */
export async function stageInputs(
  netDir: string,
  entries: readonly NetEntry[],
  options: { copies: InputCopies; copyBytesMax: number },
): Promise<boolean> {
  let copiedBytes = 0;
  try {
    for (const entry of entries) {
      if (entry.segments.length > 1) {
        await Deno.mkdir(`${netDir}/${entry.segments.slice(0, -1).join("/")}`, { recursive: true });
      }
      const target = `${netDir}/${entry.name}`;
      try {
        await Deno.link(entry.path, target);
        continue;
      } catch {
        // Another file system (or not a file we may link): copy it if it fits.
      }
      const info = await Deno.stat(entry.path);
      if (!info.isFile || copiedBytes + info.size > options.copyBytesMax) return false;
      copiedBytes += info.size;
      await options.copies.link(entry.path, info, target);
    }
    return true;
  } catch {
    return false;
  }
}

/** Removes this user's staging directories in `tmpfs` whose owner process is gone. */
async function removeStale(tmpfs: string): Promise<void> {
  const uid = Deno.uid();
  for await (const entry of Deno.readDir(tmpfs)) {
    if (!entry.isDirectory || !entry.name.startsWith(stagingPrefix)) continue;
    const dir = `${tmpfs}/${entry.name}`;
    try {
      if ((await Deno.lstat(dir)).uid !== uid) continue;
      const owner = (await Deno.readTextFile(`${dir}/owner`)).trim().split(" ");
      if (owner.length !== 2 || !/^\d+$/.test(owner[0]!) || startTime(owner[0]!) === owner[1]) {
        continue;
      }
      await Deno.remove(dir, { recursive: true });
    } catch {
      // Not ours to judge (no owner file yet, or removed meanwhile).
    }
  }
}

/** Field 22 of `/proc/<pid>/stat` (start time in clock ticks), or "" if there is no such process. */
function startTime(pid: string): string {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}
