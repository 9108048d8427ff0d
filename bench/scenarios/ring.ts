/**
 * Scenario `ring` (issue 18): placement figures of the ring, pure (no
 * processes). For 10, 100, 1 000 and 10 000 servers grown one join at a
 * time with allocated salts (protocol/placement.ts): balance (busiest
 * server's share over the mean, as primary and counting both copies), the
 * fraction a join or a death moves over the ideal, an owner lookup's time
 * and the membership table's bytes. Salts 0 … 31 (the old placement) as a
 * baseline row.
 *
 * @module
 */

import { allocateSalts, Allocation, moved, shares } from "../../protocol/placement.ts";
import { defaultSalts, Ring, type RingMember } from "../../protocol/ring.ts";
import { measure, type Row } from "../results.ts";
import { measuredRow, type Scenario } from "./context.ts";

const scenario = "ring";
const replicas = 2;
/** Positions per server with allocation (the server's default `--vnodes`). */
const allocatedPositions = 8;

function idOf(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:7000`;
}

function busiest(values: Iterable<number>): number {
  const all = [...values];
  return Math.max(...all) / (all.reduce((a, b) => a + b, 0) / all.length);
}

/** Owner lookups per microsecond-figure: mean ns of `owners(hash, R)` over random hashes. */
function lookupNs(ring: Ring): number {
  const hashes = Uint32Array.from({ length: 200_000 }, () => Math.random() * 2 ** 32);
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += ring.owners(hashes[i]!, replicas).length;
  const started = performance.now();
  for (let i = 0; i < hashes.length; i++) sink += ring.owners(hashes[i]!, replicas).length;
  const ns = (performance.now() - started) * 1e6 / hashes.length;
  return sink > 0 ? ns : ns;
}

/** Bytes of the ring table: positions (typed arrays) plus the member ids. */
function tableBytes(ring: Ring): number {
  return ring.tableBytes + ring.members.reduce((n, id) => n + 8 + 16 + id.length, 0);
}

function figures(members: readonly RingMember[], allocate: boolean, probes: number) {
  const ring = new Ring(members);
  const joins: number[] = [];
  const deaths: number[] = [];
  const n = members.length;
  for (let k = 0; k < probes; k++) {
    const id = `11.0.${k}.1:7000`;
    const salts = allocate
      ? allocateSalts(members, id, allocatedPositions)
      : defaultSalts(members[0]!.salts.length);
    joins.push(moved(ring, new Ring([...members, { id, salts }]), replicas) / (replicas / (n + 1)));
    const dead = members[Math.floor((k + 0.5) * n / probes)]!;
    deaths.push(
      moved(ring, new Ring(members.filter((m) => m !== dead)), replicas) / (replicas / n),
    );
  }
  return [
    measure("busiest primary share / mean", "×", "lower", [busiest(shares(ring, 1).values())]),
    measure("busiest share of copies / mean", "×", "lower", [
      busiest(shares(ring, replicas).values()),
    ]),
    measure("join moves / ideal (worst)", "×", "lower", [Math.max(...joins)]),
    measure("death moves / ideal (worst)", "×", "lower", [Math.max(...deaths)]),
    measure("owner lookup", "ns", "lower", [lookupNs(ring)]),
    measure("membership table", "KB", "lower", [tableBytes(ring) / 1024]),
  ];
}

/** The `ring` scenario. */
export const ringScenario: Scenario = {
  id: scenario,
  issueNumbers: [18],
  title: "Ring placement: balance, movement, lookup time, membership memory",
  run: (context): Promise<Row[]> => {
    const rows: Row[] = [];
    const allocation = new Allocation([], replicas);
    const members: RingMember[] = [];
    for (const size of [10, 100, 1_000, 10_000]) {
      const started = performance.now();
      while (members.length < size) {
        const id = idOf(members.length);
        members.push({ id, salts: allocation.join(id, allocatedPositions) });
      }
      context.log(`ring: ${size} servers grown in ${Math.round(performance.now() - started)} ms`);
      const probes = size >= 10_000 ? 3 : 10;
      rows.push(measuredRow({
        scenario,
        caseLabel: `${size} servers, ${allocatedPositions} allocated positions each`,
        system: "cloud, allocated salts",
        key: `${scenario}/${size}/allocated`,
      }, figures(members, true, probes)));
      const random = members.map((m) => ({ id: m.id, salts: defaultSalts(32) }));
      rows.push(measuredRow({
        scenario,
        caseLabel: `${size} servers, salts 0 … 31`,
        system: "cloud, salts 0 … 31 (old)",
        key: `${scenario}/${size}/random`,
      }, figures(random, false, probes)));
    }
    return Promise.resolve(rows);
  },
  comparisons: [],
};
