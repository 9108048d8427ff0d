/**
 * Which input names become which paths under `/net`. Pure.
 *
 * @module
 */

/** Longest path segment most Linux file systems accept (NAME_MAX). */
const segmentBytesMax = 255;

/** An input that will be visible at `/net/<name>`. */
export interface NetEntry {
  /** The input's name, a safe relative path (`/` separates directories). */
  readonly name: string;
  /** Its segments: `"a/b"` is `["a", "b"]`. */
  readonly segments: readonly string[];
  /** Host file to show there. */
  readonly path: string;
}

/** An input that will not be visible, and why. */
export interface SkippedName {
  /** The input's name as given. */
  readonly name: string;
  /** Sentence-case reason, e.g. `Unsafe name: ".." segment`. */
  readonly why: string;
}

/** The plan for `/net`: visible entries in order, and the skipped names. */
export interface NetPlan {
  /** Entries to show, one per distinct name (the last one given wins). */
  readonly entries: readonly NetEntry[];
  /** Names not shown. */
  readonly skipped: readonly SkippedName[];
}

const encoder = new TextEncoder();

/**
 * Says why `name` is not a safe relative path under `/net`, or returns `null`
 * when it is. Unsafe: empty, contains NUL, starts with `/`, has an empty,
 * `.` or `..` segment (so also a trailing `/` or `//`), or a segment longer
 * than 255 bytes.
 */
export function unsafeNameReason(name: string): string | null {
  if (name === "") return "Unsafe name: empty";
  if (name.includes("\0")) return "Unsafe name: contains NUL";
  if (name.startsWith("/")) return "Unsafe name: absolute path";
  for (const segment of name.split("/")) {
    if (segment === "") return "Unsafe name: empty segment";
    if (segment === "." || segment === "..") return `Unsafe name: "${segment}" segment`;
    if (encoder.encode(segment).length > segmentBytesMax) {
      return `Unsafe name: segment longer than ${segmentBytesMax} bytes`;
    }
  }
  return null;
}

/**
 * Plans `/net` for a job's inputs. Later duplicates of a name replace earlier
 * ones (last wins). Unsafe names are skipped. A name that needs a path another
 * name already uses the other way (a file where a directory is needed, as in
 * `"a"` then `"a/b"`, or the reverse) is skipped; the earlier one stays.
 */
export function planNetEntries(
  inputs: ReadonlyArray<{ readonly name: string; readonly path: string }>,
): NetPlan {
  const skipped: SkippedName[] = [];
  const lastPath = new Map<string, string>();
  for (const input of inputs) {
    const why = unsafeNameReason(input.name);
    if (why === null) lastPath.set(input.name, input.path);
    else skipped.push({ name: input.name, why });
  }
  const files = new Set<string>();
  const directories = new Set<string>();
  const entries: NetEntry[] = [];
  for (const [name, path] of lastPath) {
    const segments = name.split("/");
    const prefixes = segments.slice(1).map((_, i) => segments.slice(0, i + 1).join("/"));
    if (directories.has(name) || prefixes.some((prefix) => files.has(prefix))) {
      skipped.push({ name, why: "Conflicting name: a file and a directory at one path" });
      continue;
    }
    files.add(name);
    for (const prefix of prefixes) directories.add(prefix);
    entries.push({ name, segments, path });
  }
  return { entries, skipped };
}
