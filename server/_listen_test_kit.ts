/**
 * What the listener's tests share: a recording handler and servers on
 * loopback ports of their own.
 *
 * @module
 */

import { FrameDecoder } from "../protocol/frame.ts";
import {
  ack,
  decodePayload,
  nack,
  parseReply,
  type Reply,
  type Request,
} from "../protocol/message.ts";
import {
  type Listening,
  type RequestHandler,
  serve,
  serveTls,
  type TlsCertificate,
} from "./listen.ts";
import type { Session } from "./session.ts";

/** A handler that records what it serves; GETJ with a wait waits for a hang-up. */
export class Recorder implements RequestHandler {
  readonly served: { command: string; peer: string | null }[] = [];
  readonly hungUp: boolean[] = [];
  handle(request: Request, session: Session): Promise<Reply> {
    this.served.push({ command: request.command, peer: session.peer });
    if (request.command === "PEER") {
      session.peer = `${request.host}:${request.port}`;
      return Promise.resolve(ack());
    }
    if (request.command === "GETJ" && request.waitMs) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          this.hungUp.push(false);
          resolve(nack("wait", "nothing"));
        }, request.waitMs);
        session.hangUp?.addEventListener("abort", () => {
          clearTimeout(timer);
          this.hungUp.push(true);
          resolve(nack("wait", "gone"));
        });
      });
    }
    if (request.command === "INFO") return Promise.resolve(ack("x".repeat(70_000)));
    if (request.command === "STAT") return Promise.resolve(ack("y".repeat(60_000)));
    return Promise.resolve(ack(request.command));
  }
}

/** A TLS server of `handler` (see {@linkcode listen}). */
export async function listenTls(handler: RequestHandler, tls: TlsCertificate) {
  const listening = await serveTls(handler, { hostname: "127.0.0.1", port: 0, tls });
  return {
    listening,
    async [Symbol.asyncDispose]() {
      listening.close();
      await listening.done;
    },
  };
}

export function listen(
  handler: RequestHandler,
  options: Partial<Parameters<typeof serve>[1]> = {},
) {
  const listening = serve(handler, { hostname: "127.0.0.1", port: 0, ...options });
  return {
    listening,
    async [Symbol.asyncDispose]() {
      listening.close();
      await listening.done;
    },
  };
}

/** Reads one reply frame from a raw connection; null at EOF. */
export async function readReply(conn: Deno.Conn): Promise<Reply | null> {
  const decoder = new FrameDecoder();
  const buffer = new Uint8Array(80_000);
  for (;;) {
    const decoded = decoder.next();
    if (decoded?.kind === "frame") return parseReply(decodePayload(decoded.payload));
    const count = await conn.read(buffer);
    if (count === null) return null;
    decoder.push(buffer.subarray(0, count));
  }
}

export async function raw(listening: Listening): Promise<Deno.TcpConn> {
  return await Deno.connect({ hostname: "127.0.0.1", port: listening.port });
}
