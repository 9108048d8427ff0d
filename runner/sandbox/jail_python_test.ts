import assert from "node:assert/strict";
import fc from "fast-check";
import {
  interpreterEnvironment,
  type InterpreterProbe,
  jailMemory,
  jobSysPath,
  parseProbe,
  probeProgram,
} from "./jail_python.ts";
import { pypyNurseryBytesMax, pypyNurseryBytesMin } from "../../limits.ts";

const mib = 1024 * 1024;

const debianPyPy: InterpreterProbe = {
  implementation: "pypy",
  version: "3.9.16",
  basePath: ["/usr/lib/pypy3.9"],
  sitePath: ["/usr/local/lib/pypy3.9/dist-packages", "/usr/lib/python3/dist-packages"],
  packagePath: [],
  addressSpaceBytes: 70 * mib,
  residentBytes: 56 * mib,
};

Deno.test("interpreterEnvironment() sizes PyPy's nursery and heap from the memory limit", () => {
  assert.deepEqual(interpreterEnvironment(64 * mib), {
    PYPY_GC_NURSERY: "4096KB",
    PYPY_GC_MAX: "49152KB",
  });
  assert.equal(interpreterEnvironment(16 * mib).PYPY_GC_NURSERY, "1024KB");
  assert.equal(interpreterEnvironment(1024 * mib).PYPY_GC_NURSERY, "4096KB");
});

Deno.test("interpreterEnvironment() keeps the nursery within its bounds and the heap within the limit", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 40 }), (memoryBytes) => {
      const environment = interpreterEnvironment(memoryBytes);
      const kib = (name: string) => Number(/^(\d+)KB$/.exec(environment[name] ?? "")?.[1]);
      assert.ok(kib("PYPY_GC_NURSERY") * 1024 <= pypyNurseryBytesMax);
      assert.ok(kib("PYPY_GC_NURSERY") * 1024 >= pypyNurseryBytesMin);
      assert.ok(kib("PYPY_GC_MAX") * 1024 <= memoryBytes);
    }),
  );
});

Deno.test("jailMemory() adds the interpreter's footprint to the job's limit", () => {
  assert.deepEqual(jailMemory(64 * mib, debianPyPy), {
    addressSpaceBytes: 134 * mib,
    cgroupBytes: 120 * mib,
  });
});

Deno.test("jobSysPath() gives PyPy only its own site directories", () => {
  assert.deepEqual(jobSysPath(debianPyPy), [
    "/usr/lib/pypy3.9",
    "/usr/local/lib/pypy3.9/dist-packages",
  ]);
});

Deno.test("jobSysPath() gives CPython its site directories, after the package directories", () => {
  const cpython: InterpreterProbe = {
    ...debianPyPy,
    implementation: "cpython",
    basePath: ["/usr/lib/python311.zip", "/usr/lib/python3.11"],
    sitePath: ["/usr/local/lib/python3.11/dist-packages", "/usr/lib/python3/dist-packages"],
    packagePath: ["/srv/venv/lib/python3.11/site-packages", "/usr/lib/python3.11"],
  };
  assert.deepEqual(jobSysPath(cpython), [
    "/usr/lib/python311.zip",
    "/usr/lib/python3.11",
    "/srv/venv/lib/python3.11/site-packages",
    "/usr/local/lib/python3.11/dist-packages",
    "/usr/lib/python3/dist-packages",
  ]);
});

Deno.test("probeProgram() reports what parseProbe() reads, on the host's Python", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-probe-test-" });
  try {
    await Deno.writeTextFile(`${dir}/in.pth`, "sub\n");
    await Deno.mkdir(`${dir}/sub`);
    const output = await new Deno.Command("/usr/bin/python3", {
      args: ["-I", "-S", "-B", "-c", probeProgram([dir])],
      stdin: "null",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    const probe = parseProbe(new TextDecoder().decode(output.stdout));
    assert.equal(probe.implementation, "cpython");
    assert.match(probe.version, /^3\.\d+\.\d+$/);
    assert.deepEqual(probe.packagePath, [dir, `${dir}/sub`]);
    assert.ok(probe.basePath.length > 0 && probe.addressSpaceBytes > probe.residentBytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseProbe() refuses output that is not the probe's", () => {
  assert.throws(() => parseProbe("Traceback"), /Cannot read the interpreter probe: not JSON/);
  assert.throws(
    () => parseProbe(JSON.stringify({ ...debianPyPy, basePath: [1] })),
    /Cannot read the interpreter probe: unexpected/,
  );
  assert.throws(
    () => parseProbe(JSON.stringify({ ...debianPyPy, residentBytes: 0 })),
    /unexpected/,
  );
});
