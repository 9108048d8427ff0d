import assert from "node:assert/strict";
import {
  cgroupV1Directory,
  cgroupV2Directory,
  chooseCgroupLayout,
  parseOomKills,
} from "./cgroup_paths.ts";

const mountinfo = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
  "40 31 0:37 /docker/abc /sys/fs/cgroup/cpu\\040x rw shared:5 - cgroup cgroup rw,cpu,cpuacct",
  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
].join("\n");
const procCgroup = "8:pids:/\n4:memory:/process_api/7de\n2:cpu,cpuacct:/docker/abc/job\n0::/";

Deno.test("cgroupV1Directory() joins the mount point and our cgroup path", () => {
  assert.equal(cgroupV1Directory("pids", mountinfo, procCgroup), "/sys/fs/cgroup/pids");
  assert.equal(
    cgroupV1Directory("memory", mountinfo, procCgroup),
    "/sys/fs/cgroup/memory/process_api/7de",
  );
});

Deno.test("cgroupV1Directory() strips the mounted root and unescapes the mount point", () => {
  assert.equal(cgroupV1Directory("cpuacct", mountinfo, procCgroup), "/sys/fs/cgroup/cpu x/job");
});

Deno.test("cgroupV1Directory() returns null for a controller not mounted as v1", () => {
  assert.equal(cgroupV1Directory("freezer", mountinfo, procCgroup), null);
  assert.equal(
    cgroupV1Directory("pids", "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw", "0::/"),
    null,
  );
});

Deno.test("parseOomKills() reads the oom_kill count", () => {
  assert.equal(parseOomKills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 3);
  assert.equal(parseOomKills("oom_kill_disable 0\n"), 0);
});

Deno.test("parseOomKills() reads v2's memory.events", () => {
  assert.equal(parseOomKills("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n"), 2);
});

const v2Only = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate";

Deno.test("cgroupV2Directory() finds our cgroup in the unified hierarchy", () => {
  assert.equal(
    cgroupV2Directory(v2Only, "0::/user.slice/user-1000.slice/session-2.scope\n"),
    "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope",
  );
  assert.equal(cgroupV2Directory(mountinfo, procCgroup), "/sys/fs/cgroup/unified");
  // A container's cgroup namespace: the mount's root is our cgroup's ancestor.
  assert.equal(
    cgroupV2Directory(
      "1 0 0:1 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
      "0::/docker/abc/x",
    ),
    "/sys/fs/cgroup/x",
  );
  assert.equal(cgroupV2Directory(v2Only, "8:pids:/\n"), null);
});

Deno.test("chooseCgroupLayout() prefers a v1 pids hierarchy, else the v2 one", () => {
  assert.deepEqual(chooseCgroupLayout(mountinfo, procCgroup), {
    version: 1,
    pidsDir: "/sys/fs/cgroup/pids",
    memoryDir: "/sys/fs/cgroup/memory/process_api/7de",
  });
  assert.deepEqual(chooseCgroupLayout(v2Only, "0::/system.slice/cloud.service"), {
    version: 2,
    dir: "/sys/fs/cgroup/system.slice/cloud.service",
  });
  assert.equal(chooseCgroupLayout("", ""), null);
});
