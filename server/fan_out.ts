/**
 * Asking every other live server the same question at once, for the
 * ring-wide answers of the inspection commands (JOBS, RUNS): each peer
 * answers for itself (the request travels on a PEER connection, so it is
 * not fanned out again); one that does not answer in time is named, and
 * the answer covers the others.
 *
 * @module
 */

import type { Reply, Request } from "../protocol/message.ts";
import { httpFanoutTimeoutMs } from "../limits.ts";
import type { ServerContext } from "./context.ts";

/** What the peers answered. */
export interface FanOut {
  /** The ACKs' fields, by peer. */
  readonly answers: readonly { readonly id: string; readonly fields: readonly string[] }[];
  /** Peers that did not answer, or answered with a NACK. */
  readonly unreachable: readonly string[];
}

/** Sends `request` to every other live server; never throws. */
export async function askPeers(
  ctx: Pick<ServerContext, "membership" | "peers">,
  request: Request,
  timeoutMs = httpFanoutTimeoutMs,
): Promise<FanOut> {
  const peers = ctx.membership.alivePeers();
  const replies = await Promise.all(peers.map(async (id): Promise<Reply | null> => {
    try {
      return await ctx.peers.request(id, request, timeoutMs);
    } catch {
      return null;
    }
  }));
  const answers: { id: string; fields: readonly string[] }[] = [];
  const unreachable: string[] = [];
  replies.forEach((reply, i) => {
    if (reply?.ok) answers.push({ id: peers[i]!, fields: reply.fields });
    else unreachable.push(peers[i]!);
  });
  return { answers, unreachable };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The ACK field carrying a JSON value (base64 of its UTF-8 text). */
export function jsonAck(value: unknown): string {
  return encoder.encode(JSON.stringify(value)).toBase64();
}

/**
 * The JSON value of such a field.
 *
 * @throws {SyntaxError} when it is not base64 of JSON.
 */
export function parseJsonField(field: string | undefined): unknown {
  return JSON.parse(decoder.decode(Uint8Array.fromBase64(field ?? "")));
}
