/**
 * The ring as the dashboard shows it, from what every server said of
 * itself (INFO) and the member table of the server asked: each member's
 * state (dead in the table; suspect when a server suspects it, it did not
 * answer, or nobody heard from it lately; else alive), its share of the
 * keyspace, what it holds, when the others last heard from it. Pure.
 *
 * @module
 */

import type { Ring } from "../protocol/ring.ts";
import { suspectAfterMs } from "../limits.ts";

/** What a server's INFO says, as far as the ring view reads it (informative keys may lack). */
export interface InfoSummary {
  readonly id: string;
  readonly incarnation?: number;
  readonly positions?: readonly string[];
  readonly objects?: Readonly<Record<string, number>>;
  readonly openJobs?: number;
  readonly jobs?: Readonly<Record<string, number>>;
  readonly reconciling?: boolean;
  readonly uptimeMs?: number;
  readonly http?: string | null;
  readonly version?: string;
  readonly suspects?: readonly string[];
  readonly heard?: Readonly<Record<string, number>>;
  readonly repair?: Readonly<Record<string, unknown>>;
  readonly runners?: number;
  readonly members?: readonly { id: string; incarnation: number; alive: boolean; vnodes: number }[];
}

/** One member as the ring panel shows it. */
export interface MemberView {
  readonly id: string;
  readonly state: "alive" | "suspect" | "dead";
  readonly incarnation: number;
  readonly vnodes: number;
  /** Share of the keyspace it is primary of, 0 to 1 (0 when dead). */
  readonly share: number;
  readonly positions: readonly string[];
  /** Since another server last heard from it; null when none reports it. */
  readonly lastHeardMs: number | null;
  /** Its INFO, or null when it did not answer (or is dead). */
  readonly info: InfoSummary | null;
  /** Why its INFO is missing. */
  readonly error: string | null;
}

const keyspace = 2 ** 32;

/** The share of the keyspace each member is primary of: the arc up to each of its positions. */
export function keyspaceShares(ring: Ring): Map<string, number> {
  const shares = new Map<string, number>();
  const positions = ring.positions;
  if (positions.length === 0) return shares;
  positions.forEach((position, i) => {
    const previous = positions[(i - 1 + positions.length) % positions.length]!.hash;
    const arc = positions.length === 1
      ? keyspace
      : (position.hash - previous + keyspace) % keyspace;
    shares.set(position.member, (shares.get(position.member) ?? 0) + arc / keyspace);
  });
  return shares;
}

/** The member table entries a ring view starts from. */
export interface TableMember {
  readonly id: string;
  readonly incarnation: number;
  readonly alive: boolean;
  readonly vnodes: number;
}

/**
 * The ring panel's rows: every member of `table`, with its INFO (`infos`,
 * by id; an Error when it did not answer) and `ring` (the live members'
 * ring as the asking server sees it).
 */
export function ringView(
  table: readonly TableMember[],
  infos: ReadonlyMap<string, InfoSummary | Error>,
  ring: Ring,
): MemberView[] {
  const shares = keyspaceShares(ring);
  const answered = [...infos.values()].filter((info): info is InfoSummary =>
    !(info instanceof Error)
  );
  return [...table].sort((a, b) => (a.id < b.id ? -1 : 1)).map((member) => {
    const reply = infos.get(member.id);
    const info = reply && !(reply instanceof Error) ? reply : null;
    const heard = answered
      .filter((other) => other.id !== member.id)
      .map((other) => other.heard?.[member.id])
      .filter((ms): ms is number => typeof ms === "number");
    const lastHeardMs = heard.length === 0 ? null : Math.min(...heard);
    const suspected = answered.some((other) => other.suspects?.includes(member.id));
    const state = !member.alive
      ? "dead"
      : suspected || info === null || (lastHeardMs !== null && lastHeardMs > suspectAfterMs)
      ? "suspect"
      : "alive";
    return {
      id: member.id,
      state,
      incarnation: info?.incarnation ?? member.incarnation,
      vnodes: member.vnodes,
      share: member.alive ? shares.get(member.id) ?? 0 : 0,
      positions: info?.positions ?? [],
      lastHeardMs,
      info,
      error: reply instanceof Error ? reply.message : member.alive ? null : "dead",
    };
  });
}
