/**
 * Who may read the HTTP side of a server with an auth file: a request
 * carrying `Authorization: Bearer <role>:<secret>` (the text of
 * `$CLOUD_TOKEN`) whose secret is one of the auth file's for that role. Any
 * role may read (client is the least); the page asks for the token once.
 *
 * @module
 */

import {
  type AuthSecrets,
  constantTimeEqual,
  CredentialError,
  parseToken,
} from "../protocol/auth.ts";
import type { Authorize } from "./http_routes.ts";

const encoder = new TextEncoder();

/** True when `header` (an Authorization header) proves a secret of `secrets`. */
export function bearerAuthorized(secrets: AuthSecrets, header: string | null): boolean {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  if (!match) return false;
  let credential;
  try {
    credential = parseToken(match[1]!, "the bearer token");
  } catch (error) {
    if (error instanceof CredentialError) return false;
    throw error;
  }
  const given = encoder.encode(credential.secret);
  let found = false;
  // Every secret of the role is compared, so that the time taken tells nothing.
  for (const secret of secrets.get(credential.role) ?? []) {
    if (constantTimeEqual(encoder.encode(secret), given)) found = true;
  }
  return found;
}

/** The `authorize` of the HTTP side of a server with these secrets. */
export function bearerAuthorize(secrets: AuthSecrets): Authorize {
  return (request) => bearerAuthorized(secrets, request.headers.get("authorization"));
}
