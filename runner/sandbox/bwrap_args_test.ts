import assert from "node:assert/strict";
import { bwrapArgv, type BwrapCommand, jobUid } from "./bwrap_args.ts";
import { defaultSandboxLimits } from "./sandbox.ts";

const command: BwrapCommand = {
  bwrapPath: "/usr/bin/bwrap",
  prlimitPath: "/usr/bin/prlimit",
  pythonPath: "/usr/bin/pypy3",
  program: "print(1)",
  limits: { ...defaultSandboxLimits, cpuSeconds: 5, memoryBytes: 1000, processes: 7 },
  addressSpaceBytes: 3000,
  environment: { PYPY_GC_NURSERY: "64KB" },
  layout: {
    topLevel: {
      "/lib": { kind: "symlink", target: "usr/lib" },
      "/sbin": { kind: "directory" },
      "/lib64": { kind: "absent" },
    },
    etcPaths: ["/etc/ld.so.cache"],
    extraReadOnly: ["/opt/pypy"],
    procCpuinfo: null,
  },
  net: { kind: "files", entries: [{ name: "a/b", segments: ["a", "b"], path: "/data/x" }] },
  seccompFd: 3,
};

/** The value following `flag` in argv (each occurrence). */
function after(argv: string[], flag: string): string[][] {
  const found: string[][] = [];
  argv.forEach((arg, i) => {
    if (arg === flag) found.push(argv.slice(i + 1, i + 3));
  });
  return found;
}

Deno.test("bwrapArgv() isolates namespaces, capabilities and the environment", () => {
  const argv = bwrapArgv(command);
  const jail = argv.slice(0, argv.indexOf("--"));
  for (
    const flag of [
      "--unshare-all",
      "--unshare-user",
      "--disable-userns",
      "--die-with-parent",
      "--new-session",
      "--clearenv",
    ]
  ) {
    assert.ok(jail.includes(flag), flag);
  }
  assert.deepEqual(after(jail, "--cap-drop")[0]?.[0], "ALL");
  assert.deepEqual(after(jail, "--seccomp")[0]?.[0], "3");
  assert.ok(!bwrapArgv({ ...command, seccompFd: null }).includes("--seccomp"));
  assert.equal(after(jail, "--uid")[0]?.[0], String(jobUid));
  assert.deepEqual(after(jail, "--setenv").map(([name]) => name).sort(), [
    "HOME",
    "LANG",
    "PATH",
    "PYPY_GC_NURSERY",
  ]);
  assert.deepEqual(after(jail, "--setenv").at(-1), ["PYPY_GC_NURSERY", "64KB"]);
});

Deno.test("bwrapArgv() binds only system directories, read-only, and never all of /etc", () => {
  const argv = bwrapArgv(command);
  const jail = argv.slice(0, argv.indexOf("--"));
  assert.ok(!jail.includes("--bind") && !jail.includes("--dev-bind") && !jail.includes("--tmpfs"));
  const sources = after(jail, "--ro-bind").map(([source]) => source);
  assert.deepEqual(sources, ["/usr", "/sbin", "/etc/ld.so.cache", "/opt/pypy", "/data/x"]);
  assert.deepEqual(after(jail, "--symlink"), [["usr/lib", "/lib"]]);
  assert.deepEqual(after(jail, "--ro-bind").at(-1), ["/data/x", "/net/a/b"]);
  assert.deepEqual(after(jail, "--remount-ro").map(([path]) => path), ["/dev", "/"]);
});

Deno.test("bwrapArgv() binds a warm jail's directory as /net", () => {
  const argv = bwrapArgv({ ...command, net: { kind: "directory", path: "/work/net-1" } });
  assert.deepEqual(after(argv, "--ro-bind").at(-1), ["/work/net-1", "/net"]);
});

Deno.test("bwrapArgv() sets rlimits with prlimit before the isolated interpreter", () => {
  const argv = bwrapArgv(command);
  const inner = argv.slice(argv.indexOf("--") + 1);
  assert.deepEqual(inner, [
    "/usr/bin/prlimit",
    "--cpu=5:6",
    "--as=3000",
    "--nproc=7",
    "--fsize=0",
    "--core=0",
    "--",
    "/usr/bin/pypy3",
    "-I",
    "-S",
    "-B",
    "-c",
    "print(1)",
  ]);
});

Deno.test("bwrapArgv() leaves RLIMIT_AS and RLIMIT_CPU to others where asked", () => {
  const probe = bwrapArgv({ ...command, addressSpaceBytes: null });
  assert.ok(!probe.some((arg) => arg.startsWith("--as=")));
  const zygote = bwrapArgv({ ...command, zygote: true });
  assert.ok(zygote.includes("--as-pid-1"));
  assert.ok(!zygote.some((arg) => arg.startsWith("--cpu=")));
  assert.ok(zygote.includes("--as=3000"));
});

Deno.test("bwrapArgv() shows a given file as /proc/cpuinfo, over the fresh /proc", () => {
  const argv = bwrapArgv({ ...command, layout: { ...command.layout, procCpuinfo: "/t/cpuinfo" } });
  const cpuinfo = argv.findIndex((arg, i) => arg === "/t/cpuinfo" && argv[i - 1] === "--ro-bind");
  assert.equal(argv[cpuinfo + 1], "/proc/cpuinfo");
  assert.ok(argv.indexOf("--proc") < cpuinfo);
});
