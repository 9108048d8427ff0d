/**
 * Finds this process's cgroup v1 directories from the text of
 * `/proc/self/mountinfo` and `/proc/self/cgroup`. Pure.
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
  const path = findCgroupPath(controller, procCgroup);
  if (mount === null || path === null) return null;
  const root = mount.root === "/" ? "" : mount.root;
  if (root !== "" && path !== root && !path.startsWith(`${root}/`)) return null;
  const relative = path.slice(root.length);
  const joined = `${mount.mountPoint}${relative === "/" ? "" : relative}`;
  return joined === "" ? "/" : joined;
}

function findV1Mount(controller: string, mountinfo: string): Mount | null {
  for (const line of mountinfo.split("\n")) {
    // id parent major:minor root mount-point options [optional...] - type source super-options
    const [left, right] = line.split(" - ");
    if (left === undefined || right === undefined) continue;
    const fields = left.split(" ");
    const [type, , superOptions] = right.split(" ");
    if (type !== "cgroup" || superOptions === undefined) continue;
    if (!superOptions.split(",").includes(controller)) continue;
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    return { mountPoint: unescapeOctal(mountPoint), root: unescapeOctal(root) };
  }
  return null;
}

function findCgroupPath(controller: string, procCgroup: string): string | null {
  for (const line of procCgroup.split("\n")) {
    // hierarchy-id:controller,list:path
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second).split(",");
    if (controllers.includes(controller)) return line.slice(second + 1);
  }
  return null;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(text: string): string {
  return text.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Reads the `oom_kill N` count from the text of `memory.oom_control`. */
export function parseOomKills(oomControl: string): number {
  const match = /^oom_kill (\d+)$/m.exec(oomControl);
  return match === null ? 0 : Number(match[1]);
}
