/**
 * The error the client library reports for a refused request or a file that
 * cannot be read back intact.
 *
 * @module
 */

/**
 * A server refused a request (`reason` is the NACK's reason token), or a
 * chunked file could not be read back intact (`chunk-missing`,
 * `chunk-corrupt`, `corrupt`).
 */
export class CloudError extends Error {
  /** `reason` is e.g. `not-found`, `failed`, `incomplete`, `unavailable`, `chunk-missing`. */
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = "CloudError";
  }
}
