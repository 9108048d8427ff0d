/**
 * Authentication and roles (HELO, AUTH, and the check every other request
 * passes in node.ts): who a connection is, and what it may send. Without
 * secrets (no auth file) a server is open: HELO still gives a nonce, AUTH
 * is acknowledged without a check, and every command is allowed. With
 * secrets, a connection must prove one (docs/PROTOCOL.md, 1.6) before
 * anything but HELO, AUTH and STOP, and may then send the commands of its
 * role; failed AUTHs are limited per remote address.
 *
 * @module
 */

import {
  type AuthSecrets,
  commandRoles,
  isRole,
  permits,
  type Role,
  verifyProof,
} from "../protocol/auth.ts";
import { ack, type Command, nack, type Reply, type Request } from "../protocol/message.ts";
import {
  authFailureAddressesMax,
  authFailureRefillMs,
  authFailuresBurst,
  authNonceBytes,
} from "../limits.ts";
import { type Bucket, type BucketLimits, isFull, spend, waitMs } from "./token_bucket.ts";
import type { Session } from "./session.ts";

/** Options of {@linkcode Authentication}. */
export interface AuthenticationOptions {
  /** The secrets accepted, by role; none: the server is open. */
  readonly secrets?: AuthSecrets;
  /** Milliseconds, for the failure limit. */
  readonly now: () => number;
  /** Fills `bytes` with random bytes; a CSPRNG (crypto.getRandomValues) by default. */
  readonly random?: (bytes: Uint8Array) => void;
  /** Failed AUTHs per address: a burst, then one per `refillMs`. */
  readonly failures?: BucketLimits;
  readonly log?: (message: string) => void;
}

/** What a connection must do first, said in every `NACK:auth` before AUTH. */
export const authenticateFirst =
  "Authenticate first: send HELO, then AUTH:<role>:<proof> (cloud takes its token from --token-file FILE, $CLOUD_TOKEN or $CLOUD_TOKEN_FILE)";

/** HELO, AUTH and the role check of one server. */
export class Authentication {
  readonly #secrets: AuthSecrets | undefined;
  readonly #now: () => number;
  readonly #random: (bytes: Uint8Array) => void;
  readonly #limits: BucketLimits;
  readonly #log: (message: string) => void;
  /** Failed AUTHs by remote address, oldest first; full buckets are forgotten. */
  readonly #failures = new Map<string, Bucket>();

  constructor(options: AuthenticationOptions) {
    this.#secrets = options.secrets;
    this.#now = options.now;
    this.#random = options.random ?? ((bytes) => crypto.getRandomValues(bytes));
    this.#limits = options.failures ?? { burst: authFailuresBurst, refillMs: authFailureRefillMs };
    this.#log = options.log ?? (() => {});
  }

  /** True when connections must authenticate (the server has an auth file). */
  get required(): boolean {
    return this.#secrets !== undefined;
  }

  /**
   * The NACK a request gets before its handler runs: `auth` before a
   * successful AUTH, `forbidden` outside the connection's role; null when
   * it may go on.
   */
  refusal(command: Command, session: Session): Reply | null {
    if (this.#secrets === undefined || commandRoles[command] === null) return null;
    const role = session.role;
    if (role === undefined) return nack("auth", authenticateFirst);
    if (permits(role, command)) return null;
    return nack(
      "forbidden",
      `${command} needs the ${commandRoles[command]} role; this connection is ${role}`,
    );
  }

  /** HELO: a fresh nonce for this connection's next AUTH. */
  hello(session: Session): Reply {
    const bytes = new Uint8Array(authNonceBytes);
    this.#random(bytes);
    session.nonce = bytes.toHex();
    return ack(session.nonce);
  }

  /**
   * AUTH: checks the proof over the nonce of this connection's last HELO
   * (used up either way) against every secret of the role. A failure
   * leaves the connection unauthenticated and spends one try of its
   * address; the try that empties the bucket closes the connection, and
   * the address is refused until a try comes back.
   */
  async authenticate(
    request: Extract<Request, { command: "AUTH" }>,
    session: Session,
  ): Promise<Reply> {
    if (this.#secrets === undefined) return ack();
    const nonce = session.nonce;
    delete session.nonce;
    delete session.role;
    const address = session.remote ?? "unknown";
    const wait = waitMs(this.#failures.get(address), this.#now(), this.#limits);
    if (wait > 0) {
      session.closing = true;
      return nack(
        "auth",
        `Too many failed AUTHs from ${address}: try again in ${Math.ceil(wait / 1000)} s`,
      );
    }
    if (nonce === undefined) {
      return nack("auth", "Send HELO first: each AUTH proves the nonce of a HELO, once");
    }
    const secrets = isRole(request.role) ? this.#secrets.get(request.role) ?? [] : [];
    if (await verifyProof(secrets, request.role, nonce, request.proof)) {
      session.role = request.role as Role;
      return ack();
    }
    const left = this.#fail(address);
    if (left < 1) {
      session.closing = true;
      this.#log(`too many failed AUTHs from ${address}; refusing it for a while`);
    }
    const why = isRole(request.role)
      ? `the proof matches no ${request.role} secret of this server (check the token)`
      : `unknown role "${request.role}" (client, runner or server)`;
    return nack(
      "auth",
      `Cannot authenticate as ${request.role}: ${why}; send HELO for a new nonce`,
    );
  }

  /** Spends one try of `address`; returns the tries left. */
  #fail(address: string): number {
    const now = this.#now();
    const bucket = spend(this.#failures.get(address), now, this.#limits);
    this.#failures.delete(address);
    this.#failures.set(address, bucket);
    for (const [other, state] of this.#failures) {
      if (this.#failures.size <= authFailureAddressesMax && !isFull(state, now, this.#limits)) {
        break;
      }
      if (other !== address) this.#failures.delete(other);
    }
    return bucket.tokens;
  }
}
