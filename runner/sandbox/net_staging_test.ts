import assert from "node:assert/strict";
import { planNetEntries } from "./net_names.ts";
import {
  closeNetStaging,
  InputCopies,
  isTmpfsRoot,
  openNetStaging,
  stageInputs,
} from "./net_staging.ts";

const shm = (root: string, type: string) =>
  `30 25 0:26 ${root} /dev/shm rw,nosuid,nodev shared:4 - ${type} tmpfs rw,inode64`;

Deno.test("isTmpfsRoot() takes a tmpfs mounted from its root", () => {
  const base = "25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw";
  assert.equal(isTmpfsRoot(`${base}\n${shm("/", "tmpfs")}\n`, "/dev/shm"), true);
  assert.equal(isTmpfsRoot(base, "/dev/shm"), false, "absent");
  assert.equal(isTmpfsRoot(shm("/containers/shm-1", "tmpfs"), "/dev/shm"), false, "a bind");
  assert.equal(isTmpfsRoot(shm("/", "ext4"), "/dev/shm"), false, "not a tmpfs");
  // The last mount at a path is the one in effect.
  assert.equal(isTmpfsRoot(`${shm("/", "tmpfs")}\n${shm("/x", "tmpfs")}`, "/dev/shm"), false);
  assert.equal(isTmpfsRoot(`${shm("/x", "tmpfs")}\n${shm("/", "tmpfs")}`, "/dev/shm"), true);
});

Deno.test("stageInputs() links, else copies within the bound", async () => {
  const source = await Deno.makeTempDir({ prefix: "cloud-staging-test-" });
  const staging = await openNetStaging(source);
  try {
    assert.equal(staging.neutral, true, "this machine's /dev/shm is a tmpfs");
    assert.equal((await Deno.stat(staging.dir)).mode! & 0o777, 0o700);
    await Deno.writeTextFile(`${source}/a`, "aaaa");
    await Deno.writeTextFile(`${source}/b`, "bbbbbb");
    const entries = planNetEntries([
      { name: "x/a", path: `${source}/a` },
      { name: "b", path: `${source}/b` },
    ]).entries;
    const fits = await Deno.makeTempDir({ dir: staging.dir });
    assert.equal(
      await stageInputs(fits, entries, { copies: staging.copies, copyBytesMax: 10 }),
      true,
    );
    assert.equal(await Deno.readTextFile(`${fits}/x/a`), "aaaa");
    assert.equal(await Deno.readTextFile(`${fits}/b`), "bbbbbb");
    // Copies, not links: another file system.
    assert.notEqual((await Deno.stat(`${fits}/b`)).ino, (await Deno.stat(`${source}/b`)).ino);
    const over = await Deno.makeTempDir({ dir: staging.dir });
    assert.equal(
      await stageInputs(over, entries, { copies: staging.copies, copyBytesMax: 9 }),
      false,
    );
    // Within one file system: links, whatever their size.
    const local = await Deno.makeTempDir({ dir: source });
    assert.equal(
      await stageInputs(local, entries, { copies: staging.copies, copyBytesMax: 0 }),
      true,
    );
    assert.equal((await Deno.stat(`${local}/b`)).ino, (await Deno.stat(`${source}/b`)).ino);
  } finally {
    await closeNetStaging(staging);
    await Deno.remove(source, { recursive: true });
  }
  await assert.rejects(Deno.stat(staging.dir), Deno.errors.NotFound);
});

Deno.test("openNetStaging() removes this user's staging directories whose owner is gone", async () => {
  const stale = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "cloud-net-" });
  const live = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "cloud-net-" });
  const ownerless = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "cloud-net-" });
  const self = await Deno.readTextFile("/proc/self/stat");
  const start = self.slice(self.lastIndexOf(")") + 2).split(" ")[19];
  // pid_max is at most 2^22: no process has this pid.
  await Deno.writeTextFile(`${stale}/owner`, "99999999 12345\n");
  await Deno.writeTextFile(`${stale}/left`, "a copy left by a killed runner");
  await Deno.writeTextFile(`${live}/owner`, `${Deno.pid} ${start}\n`);
  const staging = await openNetStaging("/unused");
  try {
    await assert.rejects(Deno.stat(stale), Deno.errors.NotFound);
    await Deno.stat(`${live}/owner`);
    await Deno.stat(ownerless);
  } finally {
    await closeNetStaging(staging);
    for (const dir of [stale, live, ownerless]) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
});

Deno.test("openNetStaging() falls back to the given directory without a tmpfs of its own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-staging-test-" });
  try {
    // A directory of the root file system, not a tmpfs mounted there.
    const staging = await openNetStaging(dir, { tmpfs: dir });
    assert.equal(staging.dir, dir);
    assert.equal(staging.neutral, false);
    assert.match(staging.copies.dir, new RegExp(`^${dir}/copies-`));
    await closeNetStaging(staging);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "all it made is gone");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("InputCopies keeps one copy per file, a new one for a changed file, within its bound", async () => {
  const source = await Deno.makeTempDir({ prefix: "cloud-staging-test-" });
  const dir = await Deno.makeTempDir({ prefix: "cloud-staging-test-" });
  try {
    const copies = new InputCopies(`${dir}/copies`, 10);
    await Deno.mkdir(copies.dir);
    await Deno.writeTextFile(`${source}/a`, "aaaaaa");
    await Deno.writeTextFile(`${source}/b`, "bbbbbb");
    const link = async (name: string, target: string) =>
      await copies.link(
        `${source}/${name}`,
        await Deno.stat(`${source}/${name}`),
        `${dir}/${target}`,
      );
    await Promise.all([link("a", "a1"), link("a", "a2")]);
    const a1 = await Deno.stat(`${dir}/a1`);
    assert.equal(a1.ino, (await Deno.stat(`${dir}/a2`)).ino, "one copy, linked twice");
    assert.notEqual(a1.ino, (await Deno.stat(`${source}/a`)).ino);
    assert.equal(copies.bytes, 6);
    assert.equal([...Deno.readDirSync(copies.dir)].length, 1);
    // Over the bound: the least recently used (a) goes; its links keep their data.
    await link("b", "b1");
    assert.equal(copies.bytes, 6);
    assert.equal([...Deno.readDirSync(copies.dir)].length, 1);
    assert.equal(await Deno.readTextFile(`${dir}/a1`), "aaaaaa");
    // A changed file is another file.
    await Deno.writeTextFile(`${source}/b`, "BBBB");
    await link("b", "b2");
    assert.equal(await Deno.readTextFile(`${dir}/b2`), "BBBB");
    assert.equal(await Deno.readTextFile(`${dir}/b1`), "bbbbbb");
    await assert.rejects(link("missing", "m"));
  } finally {
    await Deno.remove(source, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});
