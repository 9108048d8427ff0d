/**
 * The command vocabulary: `COMMAND{:field}*` requests and `ACK{:field}*` or
 * `NACK:reason[:detail]` replies, as text inside frames. Pure: no sockets.
 * docs/PROTOCOL.md is the normative description of every command here.
 *
 * @module
 */

import { formatHash, parseHash } from "./hash.ts";
import { decodeManifest, ManifestError } from "./manifest.ts";
import {
  detailBytesMax,
  haveEntriesMax,
  holdEntriesMax,
  jobInputsMax,
  jobWaitMsMax,
  nameBytesMax,
  reasonCharsMax,
  renewEntriesMax,
  ringSaltsMax,
  stderrBytesMax,
  waitMsMax,
} from "../limits.ts";

/** A server record of the ring: one (host, port, salt) per ring position. */
export interface ServerRecord {
  readonly host: string;
  readonly port: number;
  readonly salt: number;
}

/** A member of the ring as gossiped by MEMB: all its positions and its liveness. */
export interface MemberRecord {
  readonly host: string;
  readonly port: number;
  /** Bumped by the member itself each time it starts or refutes a death. */
  readonly incarnation: number;
  readonly alive: boolean;
  /** The salts of its ring positions (one per virtual node). */
  readonly salts: readonly number[];
}

/** One entry of a HAVE request: an object and how far its state has come. */
export interface VersionedHash {
  readonly hash: number;
  readonly version: number;
}

/** One lease a runner holds: the job and the token GETJ handed out with it. */
export interface HeldLease {
  readonly hash: number;
  readonly lease: string;
}

/** Every request a server understands. */
export type Request =
  | {
    readonly command: "ADD";
    readonly name: string;
    readonly data: Uint8Array;
    readonly salt?: number;
  }
  | {
    readonly command: "BADD";
    readonly name: string;
    readonly salt: number;
    readonly complete: boolean;
    readonly metadata: string;
    readonly data: Uint8Array;
  }
  | { readonly command: "GET"; readonly hash: number }
  | {
    /** Stores a chunked file: its manifest (docs/PROTOCOL.md, Large objects). */
    readonly command: "MADD";
    readonly name: string;
    /** A well-formed manifest (protocol/manifest.ts). */
    readonly manifest: Uint8Array;
    readonly salt?: number;
  }
  | { readonly command: "GETM"; readonly hash: number }
  | {
    readonly command: "UPD";
    readonly hash: number;
    readonly stdout: Uint8Array;
    readonly stderr?: Uint8Array;
    readonly exitCode?: number;
    readonly reason?: string;
    readonly detail?: string;
    /** The output is a chunked file with this manifest (`stdout` is then empty). */
    readonly manifest?: Uint8Array;
    /** The lease token GETJ handed out with the job (trailing `lease=` field). */
    readonly lease?: string;
  }
  | {
    readonly command: "JADD";
    readonly name: string;
    readonly source: Uint8Array;
    readonly outputName: string;
    readonly inputs: readonly number[];
    readonly salt?: number;
  }
  | { readonly command: "GETJ"; readonly waitMs?: number }
  | { readonly command: "HAVJ" }
  | { readonly command: "SADD"; readonly servers: readonly ServerRecord[] }
  | { readonly command: "GETS" }
  | { readonly command: "SUCC"; readonly dead?: { readonly host: string; readonly port: number } }
  | { readonly command: "PROB"; readonly host: string; readonly port: number }
  | { readonly command: "STOP" }
  | { readonly command: "STAT"; readonly hash: number }
  | { readonly command: "WAIT"; readonly hash: number; readonly timeoutMs: number }
  | {
    readonly command: "RLSE";
    readonly hash: number;
    /** The lease token GETJ handed out with the job (trailing `lease=` field). */
    readonly lease?: string;
  }
  | {
    /** Cancels a job (docs/PROTOCOL.md 5.30). */
    readonly command: "CNCL";
    readonly hash: number;
  }
  | {
    /** A runner renews the leases of the jobs it runs (docs/PROTOCOL.md 5.29). */
    readonly command: "RNEW";
    readonly leases: readonly HeldLease[];
  }
  | {
    readonly command: "INFO";
    /** Counts may be this old (extension; absent or 0: counted afresh). */
    readonly maxAgeMs?: number;
  }
  | { readonly command: "PEER"; readonly host: string; readonly port: number }
  | { readonly command: "MEMB"; readonly members: readonly MemberRecord[] }
  | { readonly command: "HAVE"; readonly entries: readonly VersionedHash[] }
  | { readonly command: "PULL"; readonly hash: number; readonly metaOnly: boolean }
  | { readonly command: "HELO" }
  | {
    /** Proves the connection holds the secret of `role` (docs/PROTOCOL.md, 1.6). */
    readonly command: "AUTH";
    /** A lower-case word; servers know client, runner and server. */
    readonly role: string;
    /** 64 lower-case hex digits. */
    readonly proof: string;
  }
  | {
    /** Asks a peer to prove it holds copies: a digest of each copy mixed with `nonce`. */
    readonly command: "HOLD";
    /** 32 lower-case hex digits, fresh per request. */
    readonly nonce: string;
    readonly hashes: readonly number[];
  }
  // Inspection extensions (docs/PROTOCOL.md 5.24-5.28): JSON travels as base64 of UTF-8 text,
  // checked by the server room that reads it.
  | {
    /** Lists jobs (a client's: across the ring); `query` is JSON text, "" for the defaults. */
    readonly command: "JOBS";
    readonly query: string;
  }
  | { readonly command: "JOBI"; readonly hash: number }
  | {
    /** A runner's report of a running job's stderr so far. */
    readonly command: "PROG";
    readonly hash: number;
    readonly stderr: Uint8Array;
  }
  | {
    /** A runner tells who it is and which jobs it holds; `record` is JSON text. */
    readonly command: "RUNR";
    readonly record: string;
  }
  | {
    /** Lists runners (a client's: across the ring); `query` is JSON text, "" for the defaults. */
    readonly command: "RUNS";
    readonly query: string;
  };

/** The command word of a request. */
export type Command = Request["command"];

/** A reply: ACK with fields, or NACK with a reason and a human detail. */
export type Reply =
  | { readonly ok: true; readonly fields: readonly string[] }
  | { readonly ok: false; readonly reason: string; readonly detail: string };

/** Why a request could not be parsed; becomes `NACK:<reason>:<detail>`. */
export class ProtocolError extends Error {
  /** `reason` is a short token (e.g. `fields`, `name`, `base64`). */
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Checks a name: non-empty, at most `nameBytesMax` bytes, no `:` or NUL. */
export function validateName(name: string, what = "name"): string {
  if (name.length === 0) throw new ProtocolError("name", `Invalid ${what}: empty`);
  if (name.includes(":") || name.includes("\0")) {
    throw new ProtocolError("name", `Invalid ${what}: contains ":" or NUL`);
  }
  const bytes = encoder.encode(name).length;
  if (bytes > nameBytesMax) {
    throw new ProtocolError(
      "name",
      `Invalid ${what}: too long (max ${nameBytesMax} bytes, got ${bytes})`,
    );
  }
  return name;
}

/** The prefix of the lease token field of GETJ replies, UPD and RLSE. */
export const leasePrefix = "lease=";

/** A lease token or a HOLD nonce: 32 lower-case hex digits (128 bits). */
const tokenPattern = /^[0-9a-f]{32}$/;

/** True when `text` is a lease token (or a HOLD nonce): 32 lower-case hex digits. */
export function isToken(text: string): boolean {
  return tokenPattern.test(text);
}

/** The `lease=<token>` field. */
export function leaseField(token: string): string {
  return `${leasePrefix}${token}`;
}

/**
 * Splits a trailing `lease=<token>` field off `fields` (which it shortens).
 *
 * @throws {ProtocolError} (`fields`) when the token is not 32 lower-case hex digits.
 */
function takeLease(command: string, fields: string[]): string | undefined {
  const last = fields[fields.length - 1];
  if (last === undefined || !last.startsWith(leasePrefix)) return undefined;
  fields.pop();
  const token = last.slice(leasePrefix.length);
  if (!isToken(token)) {
    throw new ProtocolError(
      "fields",
      `Invalid ${command}: a lease token is 32 lower-case hex digits (got "${token.slice(0, 40)}")`,
    );
  }
  return token;
}

/** A hash written exactly as senders must write one: 8 hex digits. */
function exactHashField(text: string, what: string): number {
  if (!/^[0-9a-fA-F]{8}$/.test(text)) {
    throw new ProtocolError(
      "hash",
      `Invalid ${what}: expected exactly 8 hex digits (got "${text.slice(0, 40)}")`,
    );
  }
  return hashField(text, what);
}

function hashField(text: string, what: string): number {
  try {
    return parseHash(text);
  } catch {
    throw new ProtocolError(
      "hash",
      `Invalid ${what}: expected 8 hex digits (got "${text.slice(0, 40)}")`,
    );
  }
}

function bytesField(text: string, what: string): Uint8Array {
  try {
    return Uint8Array.fromBase64(text);
  } catch {
    throw new ProtocolError("base64", `Invalid ${what}: not base64`);
  }
}

function integerField(
  text: string,
  what: string,
  max = Number.MAX_SAFE_INTEGER,
  min = 0,
): number {
  if (!/^-?[0-9]{1,16}$/.test(text)) {
    throw new ProtocolError(
      "number",
      `Invalid ${what}: expected a decimal integer (got "${text.slice(0, 40)}")`,
    );
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value > max || value < min) {
    throw new ProtocolError("number", `Invalid ${what}: out of range (got ${text})`);
  }
  return value;
}

function portField(text: string): number {
  const port = integerField(text, "port", 65535);
  if (port < 1) throw new ProtocolError("number", `Invalid port: out of range (got ${text})`);
  return port;
}

function hostField(text: string): string {
  if (text.length === 0 || text.length > 255 || !/^[A-Za-z0-9.\-_\[\]%]+$/.test(text)) {
    throw new ProtocolError("host", `Invalid host: "${text.slice(0, 40)}"`);
  }
  return text;
}

function expectFields(command: string, fields: readonly string[], min: number, max: number): void {
  if (fields.length < min || fields.length > max) {
    const wanted = min === max
      ? `${min}`
      : max === Infinity
      ? `at least ${min}`
      : `${min} to ${max}`;
    throw new ProtocolError(
      "fields",
      `Invalid ${command}: expected ${wanted} fields (got ${fields.length})`,
    );
  }
}

function optionalBytes(text: string | undefined, what: string): Uint8Array | undefined {
  return text === undefined ? undefined : bytesField(text, what);
}

/** A base64 field holding UTF-8 text (JSON, checked by the room that reads it). */
function jsonField(text: string, what: string): string {
  return decodePayload(bytesField(text, what));
}

/** A base64 manifest field, checked to be a well-formed manifest. */
function manifestField(text: string): Uint8Array {
  const bytes = bytesField(text, "manifest");
  try {
    decodeManifest(bytes);
  } catch (error) {
    if (error instanceof ManifestError) throw new ProtocolError("manifest", error.message);
    throw error;
  }
  return bytes;
}

/** Encodes a request as the text of one frame payload. */
export function encodeRequest(request: Request): string {
  switch (request.command) {
    case "ADD":
      return join(
        "ADD",
        validateName(request.name),
        request.data.toBase64(),
        ...opt(request.salt, formatHash),
      );
    case "BADD":
      return join(
        "BADD",
        validateName(request.name),
        formatHash(request.salt),
        request.complete ? "1" : "0",
        request.metadata,
        request.data.toBase64(),
      );
    case "MADD":
      return join(
        "MADD",
        validateName(request.name),
        request.manifest.toBase64(),
        ...opt(request.salt, formatHash),
      );
    case "GET":
    case "GETM":
    case "STAT":
    case "CNCL":
      return join(request.command, formatHash(request.hash));
    case "RLSE":
      return join("RLSE", formatHash(request.hash), ...opt(request.lease, leaseField));
    case "RNEW":
      return join("RNEW", ...request.leases.flatMap((held) => [formatHash(held.hash), held.lease]));
    case "UPD":
      return encodeUpdate(request);
    case "JADD":
      return join(
        "JADD",
        validateName(request.name, "job name"),
        request.source.toBase64(),
        validateName(request.outputName, "output name"),
        ...request.inputs.map(formatHash),
        ...opt(request.salt, (salt) => `salt=${formatHash(salt)}`),
      );
    case "GETJ":
      return request.waitMs === undefined ? "GETJ" : join("GETJ", String(request.waitMs));
    case "HAVJ":
    case "GETS":
    case "STOP":
    case "HELO":
      return request.command;
    case "INFO":
      return request.maxAgeMs ? join("INFO", String(request.maxAgeMs)) : "INFO";
    case "JOBS":
    case "RUNS":
      return request.query === ""
        ? request.command
        : join(request.command, encoder.encode(request.query).toBase64());
    case "RUNR":
      return join("RUNR", encoder.encode(request.record).toBase64());
    case "JOBI":
      return join("JOBI", formatHash(request.hash));
    case "PROG":
      return join("PROG", formatHash(request.hash), request.stderr.toBase64());
    case "AUTH":
      return join("AUTH", request.role, request.proof);
    case "SADD":
      return join("SADD", ...request.servers.flatMap(serverFields));
    case "SUCC":
      return request.dead ? join("SUCC", request.dead.host, String(request.dead.port)) : "SUCC";
    case "WAIT":
      return join("WAIT", formatHash(request.hash), String(request.timeoutMs));
    case "PEER":
    case "PROB":
      return join(request.command, request.host, String(request.port));
    case "MEMB":
      return join("MEMB", ...request.members.flatMap(memberFields));
    case "HAVE":
      return join(
        "HAVE",
        ...request.entries.flatMap((e) => [formatHash(e.hash), String(e.version)]),
      );
    case "PULL":
      return request.metaOnly
        ? join("PULL", formatHash(request.hash), "meta")
        : join("PULL", formatHash(request.hash));
    case "HOLD":
      return join("HOLD", request.nonce, ...request.hashes.map(formatHash));
  }
}

function encodeUpdate(request: Extract<Request, { command: "UPD" }>): string {
  const fields = [formatHash(request.hash), request.stdout.toBase64()];
  const tail = [
    request.stderr?.toBase64(),
    request.exitCode === undefined ? undefined : String(request.exitCode),
    request.reason,
    request.detail === undefined ? undefined : encoder.encode(request.detail).toBase64(),
    request.manifest?.toBase64(),
  ];
  let last = tail.length;
  while (last > 0 && tail[last - 1] === undefined) last--;
  for (let i = 0; i < last; i++) fields.push(tail[i] ?? "");
  if (request.lease !== undefined) fields.push(leaseField(request.lease));
  return join("UPD", ...fields);
}

function join(...fields: string[]): string {
  return fields.join(":");
}

function opt<T>(value: T | undefined, format: (value: T) => string): string[] {
  return value === undefined ? [] : [format(value)];
}

/** The fields of one server record. */
export function serverFields(server: ServerRecord): string[] {
  return [server.host, String(server.port), formatHash(server.salt)];
}

/** The fields of one member record. */
export function memberFields(member: MemberRecord): string[] {
  return [
    member.host,
    String(member.port),
    String(member.incarnation),
    member.alive ? "alive" : "dead",
    member.salts.map(formatHash).join(","),
  ];
}

/** Parses `host:port:salt` triples. */
export function parseServers(fields: readonly string[]): ServerRecord[] {
  if (fields.length % 3 !== 0) {
    throw new ProtocolError(
      "fields",
      `Invalid server list: ${fields.length} fields is not a multiple of 3`,
    );
  }
  const servers: ServerRecord[] = [];
  for (let i = 0; i < fields.length; i += 3) {
    servers.push({
      host: hostField(fields[i]!),
      port: portField(fields[i + 1]!),
      salt: hashField(fields[i + 2]!, "salt"),
    });
  }
  return servers;
}

function saltList(text: string): number[] {
  const salts = text.split(",").map((salt) => hashField(salt, "salt"));
  if (salts.length > ringSaltsMax) {
    throw new ProtocolError(
      "fields",
      `Invalid member: too many salts (max ${ringSaltsMax}, got ${salts.length})`,
    );
  }
  return salts;
}

/** Parses `host:port:incarnation:alive|dead:salt,salt,…` quintuples. */
export function parseMembers(fields: readonly string[]): MemberRecord[] {
  if (fields.length % 5 !== 0) {
    throw new ProtocolError(
      "fields",
      `Invalid member list: ${fields.length} fields is not a multiple of 5`,
    );
  }
  const members: MemberRecord[] = [];
  for (let i = 0; i < fields.length; i += 5) {
    const status = fields[i + 3]!;
    if (status !== "alive" && status !== "dead") {
      throw new ProtocolError(
        "fields",
        `Invalid member status: expected alive or dead (got "${status}")`,
      );
    }
    members.push({
      host: hostField(fields[i]!),
      port: portField(fields[i + 1]!),
      incarnation: integerField(fields[i + 2]!, "incarnation"),
      alive: status === "alive",
      salts: saltList(fields[i + 4]!),
    });
  }
  return members;
}

/**
 * Decodes a payload's bytes as UTF-8 text.
 *
 * @throws {ProtocolError} (`encoding`) when the bytes are not UTF-8.
 */
export function decodePayload(payload: Uint8Array): string {
  try {
    return decoder.decode(payload);
  } catch {
    throw new ProtocolError("encoding", "Invalid request: payload is not UTF-8");
  }
}

/**
 * Parses the text of a request frame.
 *
 * @throws {ProtocolError} when the command is unknown or a field is invalid.
 */
export function parseRequest(text: string): Request {
  const fields = text.split(":");
  const command = fields.shift()!;
  switch (command) {
    case "ADD":
      expectFields(command, fields, 2, 3);
      return {
        command,
        name: validateName(fields[0]!),
        data: bytesField(fields[1]!, "bytes"),
        ...(fields[2] === undefined ? {} : { salt: hashField(fields[2], "salt") }),
      };
    case "BADD":
      expectFields(command, fields, 5, 5);
      if (fields[2] !== "0" && fields[2] !== "1") {
        throw new ProtocolError(
          "fields",
          `Invalid BADD: complete must be 0 or 1 (got "${fields[2]!.slice(0, 40)}")`,
        );
      }
      return {
        command,
        name: validateName(fields[0]!),
        salt: hashField(fields[1]!, "salt"),
        complete: fields[2] === "1",
        metadata: fields[3]!,
        data: bytesField(fields[4]!, "bytes"),
      };
    case "MADD":
      expectFields(command, fields, 2, 3);
      return {
        command,
        name: validateName(fields[0]!),
        manifest: manifestField(fields[1]!),
        ...(fields[2] === undefined ? {} : { salt: hashField(fields[2], "salt") }),
      };
    case "GET":
    case "GETM":
    case "STAT":
    case "CNCL":
      expectFields(command, fields, 1, 1);
      return { command, hash: hashField(fields[0]!, "hash") };
    case "RLSE": {
      const lease = takeLease(command, fields);
      expectFields(command, fields, 1, 1);
      return {
        command,
        hash: hashField(fields[0]!, "hash"),
        ...(lease === undefined ? {} : { lease }),
      };
    }
    case "RNEW":
      return parseRenew(fields);
    case "UPD":
      return parseUpdate(fields);
    case "JADD":
      return parseJobAdd(fields);
    case "GETJ":
      expectFields(command, fields, 0, 1);
      return fields[0] === undefined
        ? { command }
        : { command, waitMs: integerField(fields[0], "wait", jobWaitMsMax) };
    case "HAVJ":
    case "GETS":
    case "STOP":
    case "HELO":
      expectFields(command, fields, 0, 0);
      return { command };
    case "INFO":
      expectFields(command, fields, 0, 1);
      return fields[0] === undefined
        ? { command }
        : { command, maxAgeMs: integerField(fields[0], "maximum age", waitMsMax) };
    case "JOBS":
    case "RUNS":
      expectFields(command, fields, 0, 1);
      return { command, query: fields[0] === undefined ? "" : jsonField(fields[0], "query") };
    case "RUNR":
      expectFields(command, fields, 1, 1);
      return { command, record: jsonField(fields[0]!, "runner record") };
    case "JOBI":
      expectFields(command, fields, 1, 1);
      return { command, hash: hashField(fields[0]!, "hash") };
    case "PROG":
      expectFields(command, fields, 2, 2);
      return {
        command,
        hash: hashField(fields[0]!, "hash"),
        stderr: bytesField(fields[1]!, "stderr"),
      };
    case "AUTH":
      return parseAuth(fields);
    case "SADD":
      return { command, servers: parseServers(fields) };
    case "SUCC":
      if (fields.length === 0) return { command };
      expectFields(command, fields, 2, 2);
      return { command, dead: { host: hostField(fields[0]!), port: portField(fields[1]!) } };
    case "WAIT":
      expectFields(command, fields, 2, 2);
      return {
        command,
        hash: hashField(fields[0]!, "hash"),
        timeoutMs: integerField(fields[1]!, "timeout", waitMsMax),
      };
    case "PROB":
    case "PEER":
      expectFields(command, fields, 2, 2);
      return { command, host: hostField(fields[0]!), port: portField(fields[1]!) };
    case "MEMB":
      return { command, members: parseMembers(fields) };
    case "HAVE":
      return { command, entries: parseVersionedHashes(fields) };
    case "PULL":
      expectFields(command, fields, 1, 2);
      if (fields[1] !== undefined && fields[1] !== "meta") {
        throw new ProtocolError(
          "fields",
          `Invalid PULL: second field must be "meta" (got "${fields[1].slice(0, 40)}")`,
        );
      }
      return { command, hash: hashField(fields[0]!, "hash"), metaOnly: fields[1] === "meta" };
    case "HOLD":
      return parseHold(fields);
    default:
      throw new ProtocolError("unknown-command", `Unknown command: "${command.slice(0, 40)}"`);
  }
}

function parseAuth(fields: string[]): Request {
  expectFields("AUTH", fields, 2, 2);
  const [role, proof] = fields as [string, string];
  if (!/^[a-z][a-z-]{0,31}$/.test(role)) {
    throw new ProtocolError(
      "fields",
      `Invalid AUTH: role must be a lower-case word (got "${role.slice(0, 40)}")`,
    );
  }
  if (!/^[0-9a-f]{64}$/.test(proof)) {
    throw new ProtocolError(
      "fields",
      `Invalid AUTH: proof must be 64 lower-case hex digits (got ${proof.length} characters)`,
    );
  }
  return { command: "AUTH", role, proof };
}

/** A failure reason: a lower-case word of at most `reasonCharsMax` letters and hyphens. */
const reasonPattern = new RegExp(`^[a-z][a-z-]{0,${reasonCharsMax - 1}}$`);

function parseUpdate(fields: string[]): Request {
  const lease = takeLease("UPD", fields);
  expectFields("UPD", fields, 2, 7);
  const [hash, stdout, stderr, exitCode, reason, detail, manifest] = fields;
  if (manifest !== undefined && (manifest === "" || stdout !== "")) {
    throw new ProtocolError(
      "fields",
      manifest === ""
        ? "Invalid UPD: the manifest field is empty"
        : "Invalid UPD: stdout must be empty when a manifest is given",
    );
  }
  if (reason !== undefined && reason !== "" && !reasonPattern.test(reason)) {
    throw new ProtocolError(
      "fields",
      `Invalid UPD: reason must be a lower-case word (got "${reason.slice(0, 40)}")`,
    );
  }
  return {
    command: "UPD",
    hash: hashField(hash!, "hash"),
    stdout: bytesField(stdout!, "stdout"),
    ...(stderr === undefined ? {} : { stderr: optionalBytes(stderr, "stderr")! }),
    ...(exitCode === undefined || exitCode === ""
      ? {}
      : { exitCode: integerField(exitCode, "exit status", 2 ** 31 - 1, -(2 ** 31)) }),
    ...(reason === undefined || reason === "" ? {} : { reason }),
    ...(detail === undefined || detail === ""
      ? {}
      : { detail: decodePayload(bytesField(detail, "detail")) }),
    ...(manifest === undefined ? {} : { manifest: manifestField(manifest) }),
    ...(lease === undefined ? {} : { lease }),
  };
}

function parseRenew(fields: readonly string[]): Request {
  expectFields("RNEW", fields, 0, renewEntriesMax * 2);
  if (fields.length % 2 !== 0) {
    throw new ProtocolError("fields", "Invalid RNEW: expected pairs of job hash and lease token");
  }
  const leases: HeldLease[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const lease = fields[i + 1]!;
    if (!isToken(lease)) {
      throw new ProtocolError(
        "fields",
        `Invalid RNEW: a lease token is 32 lower-case hex digits (got "${lease.slice(0, 40)}")`,
      );
    }
    leases.push({ hash: exactHashField(fields[i]!, "job hash"), lease });
  }
  return { command: "RNEW", leases };
}

function parseHold(fields: readonly string[]): Request {
  expectFields("HOLD", fields, 1, holdEntriesMax + 1);
  const [nonce, ...hashes] = fields;
  if (!isToken(nonce!)) {
    throw new ProtocolError(
      "fields",
      `Invalid HOLD: the nonce is 32 lower-case hex digits (got "${nonce!.slice(0, 40)}")`,
    );
  }
  return { command: "HOLD", nonce: nonce!, hashes: hashes.map((h) => hashField(h, "hash")) };
}

/**
 * JADD's fields, parsed exactly: every input hash as senders write it (8
 * hex digits), the only option `salt=` with 8 hex digits, after the inputs,
 * and the source in canonical base64. A field out of place is how a name
 * holding `:` shows (the name's tail lands where the source or an input
 * goes), so nothing is guessed.
 */
function parseJobAdd(fields: string[]): Request {
  expectFields("JADD", fields, 3, Infinity);
  const [name, source, outputName, ...rest] = fields;
  if (rest.length > jobInputsMax + 1) {
    throw new ProtocolError(
      "fields",
      `Invalid JADD: too many inputs (max ${jobInputsMax}, got ${rest.length})`,
    );
  }
  const inputs: number[] = [];
  let salt: number | undefined;
  for (const field of rest) {
    if (field.startsWith("salt=")) {
      if (salt !== undefined) throw new ProtocolError("fields", "Invalid JADD: salt given twice");
      salt = exactHashField(field.slice(5), "salt");
    } else if (field.includes("=")) {
      throw new ProtocolError(
        "fields",
        `Invalid JADD: unknown option "${field.slice(0, field.indexOf("=") + 1).slice(0, 40)}"`,
      );
    } else if (salt !== undefined) {
      throw new ProtocolError("fields", "Invalid JADD: inputs must come before options");
    } else {
      inputs.push(exactHashField(field, "input hash"));
    }
  }
  if (inputs.length > jobInputsMax) {
    throw new ProtocolError(
      "fields",
      `Invalid JADD: too many inputs (max ${jobInputsMax}, got ${inputs.length})`,
    );
  }
  const bytes = bytesField(source!, "source");
  if (bytes.toBase64() !== source) {
    throw new ProtocolError(
      "base64",
      "Invalid JADD: the source is not canonical base64 (padded, no whitespace)",
    );
  }
  return {
    command: "JADD",
    name: validateName(name!, "job name"),
    source: bytes,
    outputName: validateName(outputName!, "output name"),
    inputs,
    ...(salt === undefined ? {} : { salt }),
  };
}

function parseVersionedHashes(fields: readonly string[]): VersionedHash[] {
  if (fields.length % 2 !== 0) {
    throw new ProtocolError(
      "fields",
      `Invalid HAVE: ${fields.length} fields is not a multiple of 2`,
    );
  }
  const entries: VersionedHash[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    entries.push({
      hash: hashField(fields[i]!, "hash"),
      version: integerField(fields[i + 1]!, "version"),
    });
  }
  if (entries.length > haveEntriesMax) {
    throw new ProtocolError(
      "fields",
      `Invalid HAVE: too many entries (max ${haveEntriesMax}, got ${entries.length})`,
    );
  }
  return entries;
}

/** Encodes a reply as the text of one frame payload. */
export function encodeReply(reply: Reply): string {
  if (reply.ok) return ["ACK", ...reply.fields].join(":");
  return reply.detail === "" ? `NACK:${reply.reason}` : `NACK:${reply.reason}:${reply.detail}`;
}

/** Shorthand for an ACK reply. */
export function ack(...fields: string[]): Reply {
  return { ok: true, fields };
}

/** Shorthand for a NACK reply; `detail` may contain `:`. */
export function nack(reason: string, detail = ""): Reply {
  return { ok: false, reason, detail: detail.replaceAll("\0", " ") };
}

/**
 * Parses the text of a reply frame. A NACK's detail is everything after its
 * reason, `:` included.
 *
 * @throws {ProtocolError} when it is neither ACK nor NACK.
 */
export function parseReply(text: string): Reply {
  if (text === "ACK") return { ok: true, fields: [] };
  if (text.startsWith("ACK:")) return { ok: true, fields: text.slice(4).split(":") };
  if (text === "NACK") return { ok: false, reason: "unspecified", detail: "" };
  if (text.startsWith("NACK:")) {
    const rest = text.slice(5);
    const colon = rest.indexOf(":");
    return colon < 0
      ? { ok: false, reason: rest, detail: "" }
      : { ok: false, reason: rest.slice(0, colon), detail: rest.slice(colon + 1) };
  }
  throw new ProtocolError(
    "reply",
    `Invalid reply: expected ACK or NACK (got "${text.slice(0, 40)}")`,
  );
}

/**
 * Keeps a failure detail (one line for people) within `detailBytesMax`
 * UTF-8 bytes, an ellipsis included, with control characters as spaces, so
 * that it stays one line and its JSON form is at most twice its length.
 */
export function capDetail(text: string, max = detailBytesMax): string {
  // deno-lint-ignore no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f]/g, " ");
  const bytes = encoder.encode(line);
  if (bytes.length <= max) return line;
  const ellipsis = "…";
  const kept = new TextDecoder().decode(bytes.subarray(0, max - encoder.encode(ellipsis).length));
  return kept.replace(/\uFFFD$/, "") + ellipsis;
}

/**
 * Keeps stderr within `stderrBytesMax` (or `max`): the head and the tail,
 * with a marker line saying how much was cut between them.
 */
export function capStderr(stderr: Uint8Array, max = stderrBytesMax): Uint8Array {
  if (stderr.length <= max) return stderr;
  // Room for the longest marker (the real count has no more digits), then the true count.
  const room = encoder.encode(`\n… ${stderr.length} bytes of stderr cut …\n`).length;
  const half = Math.max(0, (max - room) >> 1);
  const marker = encoder.encode(`\n… ${stderr.length - 2 * half} bytes of stderr cut …\n`);
  const capped = new Uint8Array(half * 2 + marker.length);
  capped.set(stderr.subarray(0, half));
  capped.set(marker, half);
  capped.set(stderr.subarray(stderr.length - half), half + marker.length);
  return capped;
}
