/**
 * The scenarios of issue 17, each a fault schedule drawn from a seed over
 * a bounded load from several clients, on five servers in their own
 * network namespaces.
 *
 * @module
 */

import type { Op } from "./history.ts";
import type { FaultEvent, Scenario } from "./scenario.ts";

const servers = ["s0", "s1", "s2", "s3", "s4"];
const all = [0, 1, 2, 3, 4];

/** 1 of 5 servers cut off (both ways) for several seconds, then healed. */
export const minorityPartition: Scenario = {
  name: "minority-partition",
  description: "one server of five cut off from everyone, then healed",
  servers: 5,
  clients: [{ host: "c0", servers: [0, 1, 2, 3] }, { host: "c1", servers: [0, 1, 2, 3] }],
  runners: [{ host: "r0", server: 1 }],
  loadMs: 16_000,
  jobs: 10,
  async faults(f) {
    await f.sleep(f.rng.int(2_000, 4_000));
    const victim = `s${f.rng.int(0, 4)}`;
    await f.isolate(victim);
    await f.sleep(f.rng.int(6_000, 9_000));
    await f.heal();
  },
};

/** Two servers against three, with a client and a runner on each side. */
export const majorityMinoritySplit: Scenario = {
  name: "split",
  description: "servers s0,s1 with c1 and r1 split from s2,s3,s4 with c0 and r0, then healed",
  servers: 5,
  clients: [{ host: "c0", servers: [2, 3, 4] }, { host: "c1", servers: [0, 1] }],
  // One job at a time each, and slow jobs, so that some still wait for a
  // runner when the split comes: both sides may then run them.
  runners: [{ host: "r0", server: 3, jobs: 1 }, { host: "r1", server: 0, jobs: 1 }],
  loadMs: 18_000,
  jobs: 20,
  jobSleepMs: 2_000,
  jobIntervalMs: 300,
  chainChance: 0.6,
  async faults(f) {
    await f.sleep(f.rng.int(2_000, 3_000));
    await f.partition(["s0", "s1", "c1", "r1"], ["s2", "s3", "s4", "c0", "r0", "ctl"]);
    await f.sleep(f.rng.int(9_000, 11_000));
    await f.heal();
  },
};

/** One server can send but not receive, then another can receive but not send. */
export const oneWayPartition: Scenario = {
  name: "one-way",
  description: "traffic into one server dropped, then traffic out of another dropped",
  servers: 5,
  clients: [{ host: "c0", servers: all }, { host: "c1", servers: all }],
  runners: [{ host: "r0", server: 0 }],
  loadMs: 18_000,
  jobs: 10,
  async faults(f) {
    const [first, second] = f.rng.sample(servers, 2) as [string, string];
    const others = (host: string) => [
      ...servers.filter((s) => s !== host),
      "c0",
      "c1",
      "r0",
      "ctl",
    ];
    await f.sleep(f.rng.int(2_000, 3_000));
    await f.block(others(first), [first]);
    await f.sleep(f.rng.int(5_000, 6_000));
    await f.heal();
    await f.sleep(1_000);
    await f.block([second], others(second));
    await f.sleep(f.rng.int(5_000, 6_000));
    await f.heal();
  },
};

/** One server's link cut and healed every one to three seconds. */
export const flappingLink: Scenario = {
  name: "flapping",
  description: "one server's link cut and restored every 1-3 s",
  servers: 5,
  clients: [{ host: "c0", servers: all }, { host: "c1", servers: all }],
  runners: [{ host: "r0", server: 0 }],
  loadMs: 16_000,
  jobs: 10,
  async faults(f) {
    const victim = f.rng.pick(servers.slice(1));
    await f.sleep(2_000);
    while (f.elapsed() < 13_000) {
      await f.isolate(victim);
      await f.sleep(f.rng.int(1_000, 3_000));
      await f.heal();
      await f.sleep(f.rng.int(1_000, 3_000));
    }
  },
};

/** A server frozen (SIGSTOP) longer than the failure detector takes, then resumed; twice. */
export const pausedServer: Scenario = {
  name: "pause",
  description: "one server frozen with SIGSTOP for 4-7 s (the detector needs about 2 s), twice",
  servers: 5,
  clients: [{ host: "c0", servers: all }, { host: "c1", servers: all }],
  runners: [{ host: "r0", server: 0 }],
  loadMs: 20_000,
  jobs: 10,
  jobSleepMs: 500,
  async faults(f) {
    for (let round = 0; round < 2; round++) {
      await f.sleep(f.rng.int(2_000, 3_000));
      const victim = f.rng.int(1, 4);
      f.pause(victim);
      await f.sleep(f.rng.int(4_000, 7_000));
      f.resume(victim);
    }
  },
};

/** kill -9 of two servers under load, then both restarted with their data. */
export const killTwo: Scenario = {
  name: "kill-two",
  description: "kill -9 of two servers under load, then restarts with their data",
  servers: 5,
  clients: [{ host: "c0", servers: all }, { host: "c1", servers: all }],
  runners: [{ host: "r0", server: 0 }],
  loadMs: 16_000,
  jobs: 10,
  async faults(f) {
    await f.sleep(f.rng.int(2_000, 4_000));
    const first = f.rng.int(1, 4);
    const second = 1 + ((first - 1 + 2) % 4);
    await Promise.all([f.kill(first), f.kill(second)]);
    await f.sleep(f.rng.int(3_000, 5_000));
    await f.restart(first);
    await f.sleep(f.rng.int(0, 2_000));
    await f.restart(second);
  },
};

/** A server's disk (a 24 MB tmpfs) filled under writes, then freed. */
export const diskFull: Scenario = {
  name: "disk-full",
  description:
    "s2's data directory (a small tmpfs) filled to the last byte under writes, then freed",
  servers: 5,
  diskMb: { 2: 24 },
  clients: [
    { host: "c0", servers: all },
    { host: "c1", servers: all },
    { host: "c2", servers: [2], lanes: 1 },
  ],
  runners: [],
  loadMs: 16_000,
  jobs: 0,
  async faults(f) {
    await f.sleep(f.rng.int(2_000, 3_000));
    await f.fillDisk(2);
    await f.sleep(f.rng.int(6_000, 7_000));
    await f.freeDisk(2);
  },
  expect: expectDiskFull,
};

/** The disk scenario's own checks: clear NACKs while full, reads served, writes after. */
function expectDiskFull(history: readonly Op[], timeline: readonly FaultEvent[]): string[] {
  const full = timeline.find((e) => e.action.startsWith("fill disk"))?.at;
  const freed = timeline.find((e) => e.action.startsWith("free disk"))?.at;
  if (full === undefined || freed === undefined) return ["the disk was never filled and freed"];
  const via = history.filter((op) => op.server === "s2" && op.phase === "load");
  const during = via.filter((op) => op.start > full + 500 && op.end < freed);
  const after = via.filter((op) => op.start > freed + 3_000);
  const problems: string[] = [];
  const refused = during.filter((op) => op.kind === "add" && op.outcome !== "ok");
  // A clear refusal names its reason: not `internal` (a bug), and says the disk is full.
  const unclear = refused.filter((op) =>
    /^internal:/.test(op.error ?? "") || !/space|full/i.test(op.error ?? "")
  );
  if (unclear.length > 0) {
    problems.push(
      `${unclear.length} of ${refused.length} ADDs refused while s2's disk was full did not say so, e.g. ${
        unclear[0]!.error
      }`,
    );
  }
  const reads = during.filter((op) => op.kind === "read");
  const served = reads.filter((op) => op.outcome === "ok");
  if (reads.length === 0 || served.length < reads.length * 0.9) {
    problems.push(`s2 served ${served.length} of ${reads.length} reads while its disk was full`);
  }
  const addsAfter = after.filter((op) => op.kind === "add");
  const failedAfter = addsAfter.filter((op) => op.outcome !== "ok");
  if (addsAfter.length === 0 || failedAfter.length > 0) {
    problems.push(
      `after the disk was freed, ${failedAfter.length} of ${addsAfter.length} ADDs via s2 failed${
        failedAfter[0] ? `, e.g. ${failedAfter[0].error}` : ""
      }`,
    );
  }
  return problems;
}

/** A runner cut off from the ring while it runs jobs, longer than their lease. */
export const runnerCutOff: Scenario = {
  name: "runner-cut",
  description: "runner r0 cut off from every server for longer than a lease while running jobs",
  servers: 5,
  serverArgs: ["--lease-ms", "4000"],
  clients: [{ host: "c0", servers: all }, { host: "c1", servers: all }],
  runners: [{ host: "r0", server: 0 }, { host: "r1", server: 1 }],
  loadMs: 20_000,
  jobs: 16,
  jobSleepMs: 1_500,
  async faults(f) {
    await f.sleep(f.rng.int(4_000, 6_000));
    await f.isolate("r0");
    await f.sleep(f.rng.int(6_000, 8_000));
    await f.heal();
  },
};

/** Every scenario, in the order the tests run them. */
export const scenarios: readonly Scenario[] = [
  minorityPartition,
  majorityMinoritySplit,
  oneWayPartition,
  flappingLink,
  pausedServer,
  killTwo,
  diskFull,
  runnerCutOff,
];
