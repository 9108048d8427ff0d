/**
 * What the bubblewrap backend gives the jailed interpreter, decided from the
 * job's limits and from what a probe run of the interpreter reported. Pure.
 *
 * - **The GC's sizes.** PyPy sizes its nursery from the CPU's cache (half of
 *   the `cache size` in `/proc/cpuinfo` on x86, so 240 MiB on a CPU with a
 *   480 MiB L3) and reserves it at start, which no small memory limit
 *   survives. {@linkcode interpreterEnvironment} sets the nursery and the
 *   largest GC heap from the job's memory limit instead, so the CPU does not
 *   matter and a job near its limit gets `MemoryError` (PyPy collects harder
 *   as the heap nears `PYPY_GC_MAX`) rather than a fatal abort. CPython
 *   ignores these variables.
 * - **The memory bounds.** RLIMIT_AS counts address space, and an idle
 *   interpreter already maps some (PyPy ~70 MB, CPython ~15 MB: libraries,
 *   its prebuilt heap, the nursery). {@linkcode jailMemory} bounds the jail
 *   at the job's limit on top of the footprint the probe measured, so
 *   `memoryBytes` is what the job's own code may use whatever the
 *   interpreter.
 * - **`sys.path`.** {@linkcode jobSysPath}: the interpreter's own library
 *   path, then the extra package directories, then the system's site
 *   directories; for PyPy only its own (Debian's PyPy also lists CPython's
 *   `dist-packages`, whose C extensions PyPy cannot load).
 *
 * @module
 */

import { pypyNurseryBytesMax, pypyNurseryBytesMin } from "../../limits.ts";

/** What the probe run of the jailed interpreter reports (see {@linkcode probeProgram}). */
export interface InterpreterProbe {
  /** `sys.implementation.name`: `"pypy"`, `"cpython"`, … */
  readonly implementation: string;
  /** `major.minor.micro` of the Python language. */
  readonly version: string;
  /** `sys.path` without `site` (`-I -S`): the interpreter's own library. */
  readonly basePath: readonly string[];
  /** What `site` adds: the system's site directories. */
  readonly sitePath: readonly string[];
  /** What the extra package directories add (each, and its `.pth` entries). */
  readonly packagePath: readonly string[];
  /** Address space (VmSize) of the interpreter once started, bytes. */
  readonly addressSpaceBytes: number;
  /** Resident memory (VmRSS) of the interpreter once started, bytes. */
  readonly residentBytes: number;
}

/** The bounds a jail's processes get for a job limit of `memoryBytes`. */
export interface JailMemory {
  /** RLIMIT_AS of each process (null: none, for the probe). */
  readonly addressSpaceBytes: number | null;
  /** memory.limit_in_bytes / memory.max of the job's cgroup (null: none, for the probe). */
  readonly cgroupBytes: number | null;
}

/** Share of the job's memory limit PyPy's GC heap may take: the rest is for JIT code, buffers and C libraries. */
const gcHeapShare = 0.75;

/**
 * Environment variables for the jailed interpreter: PyPy's nursery (1/16 of
 * the limit, between `pypyNurseryBytesMin` and `pypyNurseryBytesMax`) and its
 * largest GC heap (3/4 of the limit).
 */
export function interpreterEnvironment(memoryBytes: number): Record<string, string> {
  const nursery = Math.min(
    pypyNurseryBytesMax,
    Math.max(pypyNurseryBytesMin, Math.floor(memoryBytes / 16)),
  );
  return {
    PYPY_GC_NURSERY: `${Math.floor(nursery / 1024)}KB`,
    PYPY_GC_MAX: `${Math.floor((memoryBytes * gcHeapShare) / 1024)}KB`,
  };
}

/** The jail's memory bounds: the job's limit on top of the interpreter's own footprint. */
export function jailMemory(
  memoryBytes: number,
  footprint: Pick<InterpreterProbe, "addressSpaceBytes" | "residentBytes">,
): JailMemory {
  return {
    addressSpaceBytes: memoryBytes + footprint.addressSpaceBytes,
    cgroupBytes: memoryBytes + footprint.residentBytes,
  };
}

/**
 * The `sys.path` of a job: the interpreter's own library, the extra package
 * directories, then the system's site directories (for PyPy only those of
 * PyPy: a path with a segment naming it, such as
 * `/usr/local/lib/pypy3.9/dist-packages`). Duplicates are dropped.
 */
export function jobSysPath(probe: InterpreterProbe): string[] {
  const pypy = probe.implementation === "pypy";
  const site = probe.sitePath.filter((path) => !pypy || isPyPyPath(path));
  return [...new Set([...probe.basePath, ...probe.packagePath, ...site])];
}

function isPyPyPath(path: string): boolean {
  return path.split("/").some((segment) => segment.toLowerCase().startsWith("pypy"));
}

/**
 * The probe's `-c` program (run with `-I -S -B`): imports what a zygote
 * imports, measures its own footprint, then reports as one JSON line the
 * paths of `sys.path` (its own, what `site` adds, what each directory of
 * `packageDirs` adds with its `.pth` files) and the footprint.
 */
export function probeProgram(packageDirs: readonly string[]): string {
  return [
    "import os, sys, select, signal, resource, gc",
    "try:",
    "    import _cffi_backend",
    "except ImportError:",
    "    import ctypes",
    "status = open('/proc/self/status').read().split('\\n')",
    "kib = dict((l.split(':')[0], int(l.split()[1])) for l in status if l.startswith('Vm'))",
    "import json, site",
    "base = [p for p in sys.path if p and p != '.']",
    "def added(before):",
    "    return [p for p in sys.path if p not in before and p and p != '.']",
    "site.main()",
    "site_path = added(base)",
    "sys.path[:] = base",
    `for d in ${JSON.stringify(packageDirs)}:`,
    "    site.addsitedir(d)",
    "print(json.dumps({",
    "    'implementation': sys.implementation.name,",
    "    'version': '%d.%d.%d' % sys.version_info[:3],",
    "    'basePath': base, 'sitePath': site_path, 'packagePath': added(base),",
    "    'addressSpaceBytes': kib['VmSize'] * 1024, 'residentBytes': kib['VmRSS'] * 1024,",
    "}))",
    "",
  ].join("\n");
}

/** Parses the probe's output. Throws `Error` when it is not what the probe prints. */
export function parseProbe(text: string): InterpreterProbe {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(
      `Cannot read the interpreter probe: not JSON (${JSON.stringify(text.slice(0, 200))})`,
    );
  }
  const probe = value as Record<string, unknown>;
  const strings = (key: string) =>
    Array.isArray(probe[key]) && (probe[key] as unknown[]).every((p) => typeof p === "string");
  const count = (key: string) => Number.isSafeInteger(probe[key]) && (probe[key] as number) > 0;
  const valid = typeof probe === "object" && probe !== null &&
    typeof probe.implementation === "string" && typeof probe.version === "string" &&
    strings("basePath") && strings("sitePath") && strings("packagePath") &&
    count("addressSpaceBytes") && count("residentBytes");
  if (!valid) {
    throw new Error(
      `Cannot read the interpreter probe: unexpected ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
  return probe as unknown as InterpreterProbe;
}
