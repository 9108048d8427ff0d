import assert from "node:assert/strict";
import { authProof, type Credential, permits, type Role, roles } from "../protocol/auth.ts";
import type { Command, Reply, Request } from "../protocol/message.ts";
import { Authentication } from "./authentication.ts";
import type { Session } from "./session.ts";
import { TestRing } from "./_test_ring.ts";

const secrets = new Map<Role, string[]>([
  ["client", ["client-secret-0123456789"]],
  ["runner", ["runner-secret-0123456789"]],
  ["server", ["server-secret-0123456789", "server-secret-rotated-in"]],
]);
/** The nonce of a HELO reply. */
function nonceOf(reply: Reply): string {
  assert.ok(reply.ok, "HELO must be acknowledged");
  return reply.fields[0]!;
}

const credential = (role: Role, index = 0): Credential => ({
  role,
  secret: secrets.get(role)![index]!,
});

/** One request of every command (their fields do not matter: the check comes first). */
const everyCommand: { readonly [C in Command]: Request } = {
  ADD: { command: "ADD", name: "a", data: new Uint8Array([1]) },
  BADD: {
    command: "BADD",
    name: "a",
    salt: 1,
    complete: true,
    metadata: "",
    data: new Uint8Array(),
  },
  GET: { command: "GET", hash: 1 },
  MADD: { command: "MADD", name: "a", manifest: new Uint8Array() },
  GETM: { command: "GETM", hash: 1 },
  UPD: { command: "UPD", hash: 1, stdout: new Uint8Array() },
  JADD: { command: "JADD", name: "j", source: new Uint8Array(), outputName: "o", inputs: [] },
  GETJ: { command: "GETJ" },
  HAVJ: { command: "HAVJ" },
  SADD: { command: "SADD", servers: [{ host: "evil", port: 1, salt: 0 }] },
  GETS: { command: "GETS" },
  SUCC: { command: "SUCC" },
  PROB: { command: "PROB", host: "s0", port: 7000 },
  STOP: { command: "STOP" },
  STAT: { command: "STAT", hash: 1 },
  WAIT: { command: "WAIT", hash: 1, timeoutMs: 0 },
  RLSE: { command: "RLSE", hash: 1 },
  RNEW: { command: "RNEW", leases: [] },
  CNCL: { command: "CNCL", hash: 1 },
  INFO: { command: "INFO" },
  PEER: { command: "PEER", host: "evil", port: 1 },
  MEMB: {
    command: "MEMB",
    members: [{ host: "s0", port: 7000, incarnation: 2 ** 53 - 1, alive: false, salts: [1] }],
  },
  HAVE: { command: "HAVE", entries: [{ hash: 1, version: 1 }] },
  PULL: { command: "PULL", hash: 1, metaOnly: false },
  HOLD: { command: "HOLD", nonce: "0".repeat(32), hashes: [1] },
  HELO: { command: "HELO" },
  JOBS: { command: "JOBS", query: "" },
  JOBI: { command: "JOBI", hash: 1 },
  RUNS: { command: "RUNS", query: "" },
  PROG: { command: "PROG", hash: 1, stderr: new Uint8Array() },
  RUNR: { command: "RUNR", record: "{}" },
  AUTH: { command: "AUTH", role: "client", proof: "0".repeat(64) },
};

function room(options: { now?: () => number } = {}) {
  return new Authentication({ secrets, now: options.now ?? (() => 0) });
}

/** HELO then AUTH with `who` on `session`; the AUTH reply. */
async function handshake(auth: Authentication, session: Session, who: Credential): Promise<Reply> {
  const hello = auth.hello(session);
  assert.ok(hello.ok);
  return await auth.authenticate(
    { command: "AUTH", role: who.role, proof: await authProof(who, hello.fields[0]!) },
    session,
  );
}

Deno.test("Authentication.hello() gives a fresh 32-hex-digit nonce each time", () => {
  const auth = room();
  const session: Session = { peer: null };
  const nonces = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const reply = auth.hello(session);
    assert.ok(reply.ok);
    assert.match(reply.fields[0]!, /^[0-9a-f]{32}$/);
    nonces.add(reply.fields[0]!);
  }
  assert.equal(nonces.size, 100);
});

Deno.test("Authentication.refusal() says auth before AUTH, forbidden outside the role", async () => {
  const auth = room();
  for (const command of Object.keys(everyCommand) as Command[]) {
    const refusal = auth.refusal(command, { peer: null });
    if (["HELO", "AUTH", "STOP"].includes(command)) assert.equal(refusal, null, command);
    else assert.equal(refusal?.ok === false && refusal.reason, "auth", command);
  }
  for (const role of roles) {
    const session: Session = { peer: null };
    assert.deepEqual(await handshake(auth, session, credential(role)), { ok: true, fields: [] });
    assert.equal(session.role, role);
    for (const command of Object.keys(everyCommand) as Command[]) {
      const refusal = auth.refusal(command, session);
      if (permits(role, command)) assert.equal(refusal, null, `${role} ${command}`);
      else {
        assert.ok(refusal && !refusal.ok && refusal.reason === "forbidden", `${role} ${command}`);
        assert.match(refusal.detail, new RegExp(`^${command} needs the (runner|server) role`));
      }
    }
  }
});

Deno.test("Authentication.authenticate() accepts every secret of the role (rotation)", async () => {
  const auth = room();
  for (const index of [0, 1]) {
    const session: Session = { peer: null };
    assert.ok((await handshake(auth, session, credential("server", index))).ok);
    assert.equal(session.role, "server");
  }
  const session: Session = { peer: null };
  // A runner's secret does not prove the server role.
  const forged = { role: "server" as const, secret: secrets.get("runner")![0]! };
  const reply = await handshake(auth, session, forged);
  assert.ok(!reply.ok && reply.reason === "auth");
  assert.equal(session.role, undefined);
});

Deno.test("Authentication.authenticate() uses a nonce once: a failed AUTH needs a new HELO", async () => {
  const auth = room();
  const session: Session = { peer: null, remote: "10.0.0.1" };
  const nonce = nonceOf(auth.hello(session));
  const wrong = await auth.authenticate(
    { command: "AUTH", role: "client", proof: "0".repeat(64) },
    session,
  );
  assert.ok(!wrong.ok && wrong.reason === "auth");
  // The right proof over the used nonce is refused: it is gone.
  const proof = await authProof(credential("client"), nonce);
  const replay = await auth.authenticate({ command: "AUTH", role: "client", proof }, session);
  assert.ok(!replay.ok && /Send HELO first/.test(replay.detail));
  assert.equal(session.role, undefined);
  // So is a replay of a successful AUTH on another connection.
  const other: Session = { peer: null, remote: "10.0.0.2" };
  const theirs = nonceOf(auth.hello(other));
  const good = await authProof(credential("client"), theirs);
  assert.ok((await auth.authenticate({ command: "AUTH", role: "client", proof: good }, other)).ok);
  const third: Session = { peer: null, remote: "10.0.0.3" };
  auth.hello(third);
  const copied = await auth.authenticate({ command: "AUTH", role: "client", proof: good }, third);
  assert.ok(!copied.ok && copied.reason === "auth");
});

Deno.test("Authentication.authenticate() limits failed AUTHs per address, then lets it try again", async () => {
  let now = 0;
  const auth = new Authentication({
    secrets,
    now: () => now,
    failures: { burst: 3, refillMs: 1000 },
  });
  const attacker: Session = { peer: null, remote: "10.0.0.66" };
  const guess = (session: Session) => handshake(auth, session, { role: "client", secret: "guess" });
  for (let i = 0; i < 2; i++) {
    const reply = await guess(attacker);
    assert.ok(!reply.ok && reply.reason === "auth");
    assert.equal(attacker.closing, undefined, `try ${i + 1} keeps the connection`);
  }
  const last = await guess(attacker);
  assert.ok(!last.ok && last.reason === "auth");
  assert.equal(attacker.closing, true, "the try that empties the bucket closes the connection");
  // The address waits: even the right secret is refused, on a new connection.
  const again: Session = { peer: null, remote: "10.0.0.66" };
  const refused = await handshake(auth, again, credential("client"));
  assert.ok(
    !refused.ok && /Too many failed AUTHs from 10\.0\.0\.66: try again in 1 s/.test(refused.detail),
  );
  assert.equal(again.closing, true);
  assert.equal(again.role, undefined);
  // Another address is not held back.
  const neighbour: Session = { peer: null, remote: "10.0.0.7" };
  assert.ok((await handshake(auth, neighbour, credential("client"))).ok);
  // One try comes back after refillMs.
  now += 1000;
  const later: Session = { peer: null, remote: "10.0.0.66" };
  assert.ok((await handshake(auth, later, credential("runner"))).ok);
  assert.equal(later.role, "runner");
});

Deno.test("Authentication without secrets is open: AUTH is a no-op ACK, nothing is refused", async () => {
  const auth = new Authentication({ now: () => 0 });
  assert.equal(auth.required, false);
  const session: Session = { peer: null };
  assert.ok(auth.hello(session).ok);
  const reply = await auth.authenticate(
    { command: "AUTH", role: "client", proof: "0".repeat(64) },
    session,
  );
  assert.deepEqual(reply, { ok: true, fields: [] });
  for (const command of Object.keys(everyCommand) as Command[]) {
    assert.equal(auth.refusal(command, session), null);
  }
});

Deno.test("Node with an auth file refuses every command before AUTH and outside the role", async () => {
  await using ring = await TestRing.start(1, { node: { auth: secrets } });
  const node = ring.servers[0]!.node;
  const before = ring.servers[0]!.store.get(1);
  const anonymous: Session = { peer: null };
  for (const request of Object.values(everyCommand)) {
    if (["HELO", "AUTH", "STOP"].includes(request.command)) continue;
    const reply = await node.handle(request, anonymous);
    assert.ok(!reply.ok && reply.reason === "auth", `${request.command}: ${JSON.stringify(reply)}`);
  }
  // The attacks of issue 12 with a client's and a runner's token.
  const forbidden: Record<"client" | "runner", Command[]> = {
    client: ["SADD", "BADD", "MEMB", "UPD", "GETJ", "RLSE", "PEER", "HAVE", "PULL", "SUCC", "PROB"],
    runner: ["SADD", "BADD", "MEMB", "PEER", "HAVE", "PULL", "SUCC", "PROB"],
  };
  for (const role of ["client", "runner"] as const) {
    const session: Session = { peer: null };
    const hello = await node.handle({ command: "HELO" }, session);
    assert.ok(hello.ok);
    const proof = await authProof(credential(role), hello.fields[0]!);
    assert.ok((await node.handle({ command: "AUTH", role, proof }, session)).ok);
    for (const command of forbidden[role]) {
      const reply = await node.handle(everyCommand[command], session);
      assert.ok(!reply.ok && reply.reason === "forbidden", `${role} ${command}`);
    }
    assert.equal(session.peer, null, "PEER refused: the session is no peer");
    const added = await node.handle(everyCommand.ADD, session);
    assert.ok(added.ok, `${role} may ADD`);
  }
  assert.equal(ring.servers[0]!.store.get(1), before);
  assert.deepEqual(node.ring.members, ["s0:7000"], "no fake server joined");
});
