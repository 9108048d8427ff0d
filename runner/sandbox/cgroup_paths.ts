/**
 * Finds this process's cgroup directories (v1 per controller, or the v2
 * unified one) from the text of `/proc/self/mountinfo` and
 * `/proc/self/cgroup`, and reads the kernel's OOM-kill counters. Pure.
 *
 * @module
 */

/** Where one controller's hierarchy is mounted and which part of it. */
interface Mount {
  readonly mountPoint: string;
  /** The directory of the hierarchy mounted there ("/" for all of it). */
  readonly root: string;
}

/**
 * Returns the directory of this process's cgroup for a v1 `controller`
 * ("pids", "memory"), or `null` when that controller is not mounted as a v1
 * hierarchy or our cgroup lies outside the mounted part.
 */
export function cgroupV1Directory(
  controller: string,
  mountinfo: string,
  procCgroup: string,
): string | null {
  const mount = findV1Mount(controller, mountinfo);
  const path = findCgroupPath(
    procCgroup,
    (_, controllers) => controllers.split(",").includes(controller),
  );
  if (mount === null || path === null) return null;
  return joinMounted(mount, path);
}

/**
 * Returns the directory of this process's cgroup in the v2 (unified)
 * hierarchy, or `null` when none is mounted or our cgroup lies outside the
 * mounted part. On a hybrid host this is the (often controller-less) v2
 * mount beside the v1 ones.
 */
export function cgroupV2Directory(mountinfo: string, procCgroup: string): string | null {
  const mount = findMount(mountinfo, (type) => type === "cgroup2");
  const path = findCgroupPath(
    procCgroup,
    (hierarchy, controllers) => hierarchy === "0" && controllers === "",
  );
  if (mount === null || path === null) return null;
  return joinMounted(mount, path);
}

/** Which cgroup hierarchy the sandbox uses: v1's per-controller ones, or the v2 one. */
export type CgroupLayout =
  | { readonly version: 1; readonly pidsDir: string; readonly memoryDir: string | null }
  | { readonly version: 2; readonly dir: string };

/**
 * Chooses from what the host mounts: v1 when a v1 `pids` hierarchy is
 * mounted (v1-only and hybrid hosts), else v2 when the unified hierarchy is
 * (v2-only hosts: current Debian, Ubuntu, Fedora, RHEL), else `null`.
 */
export function chooseCgroupLayout(mountinfo: string, procCgroup: string): CgroupLayout | null {
  const pidsDir = cgroupV1Directory("pids", mountinfo, procCgroup);
  if (pidsDir !== null) {
    return { version: 1, pidsDir, memoryDir: cgroupV1Directory("memory", mountinfo, procCgroup) };
  }
  const dir = cgroupV2Directory(mountinfo, procCgroup);
  return dir === null ? null : { version: 2, dir };
}

function findV1Mount(controller: string, mountinfo: string): Mount | null {
  return findMount(
    mountinfo,
    (type, superOptions) => type === "cgroup" && superOptions.split(",").includes(controller),
  );
}

function findMount(
  mountinfo: string,
  matches: (type: string, superOptions: string) => boolean,
): Mount | null {
  for (const line of mountinfo.split("\n")) {
    // id parent major:minor root mount-point options [optional...] - type source super-options
    const [left, right] = line.split(" - ");
    if (left === undefined || right === undefined) continue;
    const fields = left.split(" ");
    const [type, , superOptions] = right.split(" ");
    if (type === undefined || superOptions === undefined || !matches(type, superOptions)) continue;
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    return { mountPoint: unescapeOctal(mountPoint), root: unescapeOctal(root) };
  }
  return null;
}

function findCgroupPath(
  procCgroup: string,
  matches: (hierarchy: string, controllers: string) => boolean,
): string | null {
  for (const line of procCgroup.split("\n")) {
    // hierarchy-id:controller,list:path
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    if (matches(line.slice(0, first), line.slice(first + 1, second))) {
      return line.slice(second + 1);
    }
  }
  return null;
}

/** `path` (a cgroup path) under `mount`, or null when it lies outside the mounted root. */
function joinMounted(mount: Mount, path: string): string | null {
  const root = mount.root === "/" ? "" : mount.root;
  if (root !== "" && path !== root && !path.startsWith(`${root}/`)) return null;
  const relative = path.slice(root.length);
  const joined = `${mount.mountPoint}${relative === "/" ? "" : relative}`;
  return joined === "" ? "/" : joined;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(text: string): string {
  return text.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/**
 * Reads the `oom_kill N` count from the text of v1's `memory.oom_control` or
 * v2's `memory.events` (both say it the same way).
 */
export function parseOomKills(oomControl: string): number {
  const match = /^oom_kill (\d+)$/m.exec(oomControl);
  return match === null ? 0 : Number(match[1]);
}
