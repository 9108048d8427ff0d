/**
 * The reply of RNEW (docs/PROTOCOL.md 5.29): the lease length, then one
 * status per renewed lease. Pure: shared by servers and runners.
 *
 * @module
 */

import type { Reply } from "./message.ts";

/**
 * What a renewal of one lease came to: `ok` (renewed), `lost` (the job is
 * not leased under that token any more: its lease ran out and it went to
 * another runner, or it finished), `cancelled` (the job was cancelled:
 * stop it) or `unknown` (no owner that holds the job answered).
 */
export type RenewStatus = "ok" | "lost" | "cancelled" | "unknown";

/** The statuses a reply may carry. */
export const renewStatuses: readonly RenewStatus[] = ["ok", "lost", "cancelled", "unknown"];

/**
 * The lease length and statuses of an RNEW reply that renewed `count`
 * leases; null when it is a NACK or malformed (an older peer, a bug).
 */
export function parseRenewReply(
  reply: Reply,
  count: number,
): { leaseMs: number; statuses: RenewStatus[] } | null {
  if (!reply.ok || reply.fields.length !== count + 1) return null;
  const [length, ...rest] = reply.fields;
  if (!/^[0-9]{1,9}$/.test(length!) || Number(length) <= 0) return null;
  if (!rest.every((status) => (renewStatuses as readonly string[]).includes(status))) return null;
  return { leaseMs: Number(length), statuses: rest as RenewStatus[] };
}
