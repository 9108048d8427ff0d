/**
 * `get -o` without losing the user's file: the content goes to a temporary
 * file beside the target (same directory, so the rename is atomic) and
 * replaces the target only once the whole content was fetched and checked.
 * On any error, and on Ctrl-C, the temporary file is removed and the
 * target is left as it was.
 *
 * @module
 */

import { atInterrupt, writeTo } from "./cli_io.ts";

/** A temporary file beside a target: written, then committed or abandoned. */
export interface AtomicOutput {
  /** The temporary file's path (beside the target). */
  readonly temporary: string;
  /** Appends bytes to the temporary file. */
  write(bytes: Uint8Array): Promise<void>;
  /** Flushes and renames the temporary file over the target. */
  commit(): Promise<void>;
  /** Closes and removes the temporary file; the target is untouched. Never throws. */
  abandon(): void;
}

/** The temporary path for `target`: a hidden file in the same directory. */
export function temporaryPath(target: string, nonce: string): string {
  const slash = target.lastIndexOf("/");
  const directory = slash < 0 ? "" : target.slice(0, slash + 1);
  const base = slash < 0 ? target : target.slice(slash + 1);
  return `${directory}.${base}.cloud-${nonce}.part`;
}

/**
 * Creates a new temporary file beside `target` (never an existing one).
 *
 * @throws {Deno.errors.NotFound} when the target's directory does not exist.
 */
export async function openAtomic(target: string): Promise<AtomicOutput> {
  const temporary = temporaryPath(target, crypto.randomUUID().slice(0, 8));
  const file = await Deno.open(temporary, { write: true, createNew: true, mode: 0o644 });
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    try {
      file.close();
    } catch {
      // Already closed.
    }
  };
  return {
    temporary,
    write: (bytes) => writeTo(file, bytes),
    async commit() {
      await file.syncData();
      close();
      await Deno.rename(temporary, target);
    },
    abandon() {
      close();
      try {
        Deno.removeSync(temporary);
      } catch {
        // Gone already, or never written.
      }
    },
  };
}

/**
 * Runs `work` writing into an atomic output for `target`: committed when it
 * resolves, abandoned when it throws or on Ctrl-C (within
 * `whileInterruptible`, cli_io.ts).
 */
export async function writeAtomically(
  target: string,
  work: (write: (bytes: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<void> {
  const output = await openAtomic(target);
  const forget = atInterrupt(output.abandon);
  try {
    await work(output.write);
    await output.commit();
  } catch (error) {
    output.abandon();
    throw error;
  } finally {
    forget();
  }
}
