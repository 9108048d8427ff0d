/**
 * The leases one connection took: GETJ hands a job out with its lease
 * token, which UPD and RLSE must carry. A runner of the original design
 * does not know of tokens and sends neither; the server remembers the
 * tokens it handed out on each connection and fills them in for requests
 * on that same connection. Any other connection must show the token.
 *
 * @module
 */

import { parseHash } from "../protocol/hash.ts";
import { leasePrefix, type Reply } from "../protocol/message.ts";
import { sessionLeasesMax } from "../limits.ts";
import type { Session } from "./session.ts";

/** The lease token handed out for job `hash` on this connection, if any. */
export function leaseOf(session: Session, hash: number): string | undefined {
  return session.leases?.get(hash);
}

/**
 * Remembers the lease a GETJ reply hands out on this connection (its job
 * hash, then its lease field last), keeping the `sessionLeasesMax` latest.
 */
export function rememberLease(session: Session, reply: Reply): void {
  if (!reply.ok || reply.fields.length % 2 === 0) return;
  const last = reply.fields[reply.fields.length - 1]!;
  if (!last.startsWith(leasePrefix)) return;
  let hash: number;
  try {
    hash = parseHash(reply.fields[1] ?? "");
  } catch {
    return;
  }
  const leases = session.leases ??= new Map();
  leases.delete(hash);
  leases.set(hash, last.slice(leasePrefix.length));
  for (const oldest of leases.keys()) {
    if (leases.size <= sessionLeasesMax) break;
    leases.delete(oldest);
  }
}
