import assert from "node:assert/strict";
import { ConnectionError } from "../protocol/connection.ts";
import {
  encodeReply,
  encodeRequest,
  parseReply,
  parseRequest,
  type Reply,
  type Request,
} from "../protocol/message.ts";
import { memberId } from "../protocol/ring.ts";
import type { Member } from "./membership.ts";
import { toMember } from "./membership.ts";
import { Membership } from "./membership_service.ts";
import { deadMemberKeepMs } from "../limits.ts";

/** Members that reach each other through their handlers, as text of the wire protocol. */
class World {
  readonly members = new Map<string, Membership>();
  /** Members that do not answer (their process is gone: refused; `silent`: timeouts). */
  readonly down = new Set<string>();
  readonly silent = new Set<string>();
  readonly stores = new Map<string, Member[]>();
  readonly ringChanges = new Map<string, number>();
  nowMs = 1_000_000;

  add(host: string, port: number, join?: string): Membership {
    const id = memberId(host, port);
    const stored = this.stores.get(id) ?? [];
    this.stores.set(id, stored);
    const membership = new Membership({
      host,
      port,
      vnodes: 4,
      ...(join ? { join: { host: join.split(":")[0]!, port: Number(join.split(":")[1]) } } : {}),
      store: {
        members: () => [...stored],
        saveMembers: (members) => {
          for (const member of members) {
            const at = stored.findIndex((m) => m.id === member.id);
            if (at >= 0) stored[at] = member;
            else stored.push(member);
          }
        },
        forgetMembers: (ids) => {
          for (const id of ids) {
            const at = stored.findIndex((m) => m.id === id);
            if (at >= 0) stored.splice(at, 1);
          }
        },
      },
      now: () => this.nowMs,
      transport: {
        request: (to, request) => this.#deliver(to, request),
        forget: () => {},
        close: () => {},
      },
      log: () => {},
      onRingChange: () => this.ringChanges.set(id, (this.ringChanges.get(id) ?? 0) + 1),
    });
    this.members.set(id, membership);
    membership.load();
    return membership;
  }

  async #deliver(to: string, request: Request): Promise<Reply> {
    const target = this.members.get(to);
    if (!target || this.down.has(to)) throw new ConnectionError("connect", `${to}: refused`);
    if (this.silent.has(to)) throw new ConnectionError("timeout", `${to}: no reply`);
    const parsed = parseRequest(encodeRequest(request));
    const reply = await handle(target, parsed);
    return parseReply(encodeReply(reply));
  }
}

function handle(target: Membership, request: Request): Promise<Reply> | Reply {
  switch (request.command) {
    case "MEMB":
      return target.gossip(request.members.map(toMember));
    case "GETS":
      return target.servers();
    case "SADD":
      return target.addServers(request.servers);
    case "PROB":
      return target.probe(memberId(request.host, request.port));
    case "SUCC":
      return target.successorDied(request.dead);
    default:
      throw new Error(`Not a membership command: ${request.command}`);
  }
}

function alive(membership: Membership): string[] {
  return membership.aliveMembers().map((m) => m.id);
}

Deno.test("Membership.join() crawls the ring: a server joining through one learns them all", async () => {
  const world = new World();
  await world.add("a", 1).join();
  await world.add("b", 2, "a:1").join();
  await world.add("c", 3, "b:2").join();
  for (const membership of world.members.values()) {
    assert.deepEqual(alive(membership), ["a:1", "b:2", "c:3"]);
    assert.equal(membership.ring.positions.length, 12);
  }
  assert.ok((world.ringChanges.get("a:1") ?? 0) >= 2, "a saw the ring change as b and c joined");
});

Deno.test("Membership.join() fails when no server of the ring answers", async () => {
  const world = new World();
  await assert.rejects(
    world.add("b", 2, "a:1").join(),
    (error: Error) =>
      error instanceof ConnectionError &&
      /Cannot join the ring: none of a:1 answers/.test(error.message),
  );
});

Deno.test("Membership.load() enters with an incarnation above the one persisted", async () => {
  const world = new World();
  const first = world.add("a", 1);
  assert.equal(first.self.incarnation, 1);
  const again = world.add("a", 1);
  assert.equal(again.self.incarnation, 2);
  await again.join();
});

Deno.test("Membership.peerFailed() declares a peer whose connection is refused dead at once", async () => {
  const world = new World();
  const a = world.add("a", 1);
  await a.join();
  await world.add("b", 2, "a:1").join();
  await world.add("c", 3, "a:1").join();
  world.down.add("b:2");
  await a.peerFailed("b:2", new ConnectionError("connect", "Cannot connect: refused"));
  assert.deepEqual(alive(a), ["a:1", "c:3"]);
  // And tells the others.
  assert.deepEqual(alive(world.members.get("c:3")!), ["a:1", "c:3"]);
});

Deno.test("Membership.peerFailed() keeps a peer that timed out but answers a ping", async () => {
  const world = new World();
  const a = world.add("a", 1);
  await a.join();
  await world.add("b", 2, "a:1").join();
  await a.peerFailed("b:2", new ConnectionError("timeout", "slow"));
  assert.deepEqual(alive(a), ["a:1", "b:2"]);
  await assert.rejects(
    a.peerFailed("b:2", new Error("not a connection error")),
    /not a connection/,
  );
});

Deno.test("Membership.heartbeat() declares a silent neighbour dead after two misses, when nobody reaches it", async () => {
  const world = new World();
  const a = world.add("a", 1);
  await a.join();
  await world.add("b", 2, "a:1").join();
  await world.add("c", 3, "a:1").join();
  world.silent.add("b:2");
  await a.heartbeat();
  assert.ok(alive(a).includes("b:2"), "one miss is not enough");
  await a.heartbeat();
  assert.deepEqual(alive(a), ["a:1", "c:3"]);
});

Deno.test("Membership.gossip() refutes this server's death with a higher incarnation", async () => {
  const world = new World();
  const a = world.add("a", 1);
  await a.join();
  const self = a.self;
  a.gossip([{ ...self, alive: false }]);
  assert.equal(a.self.alive, true);
  assert.equal(a.self.incarnation, self.incarnation + 1);
});

Deno.test("Membership.probe() tells whether this server reaches a member", async () => {
  const world = new World();
  const a = world.add("a", 1);
  await a.join();
  await world.add("b", 2, "a:1").join();
  assert.deepEqual(await a.probe("b:2"), { ok: true, fields: ["alive"] });
  world.down.add("b:2");
  assert.deepEqual(await a.probe("b:2"), { ok: true, fields: ["dead"] });
  assert.deepEqual(await a.probe("a:1"), { ok: true, fields: ["alive"] });
});

Deno.test("Membership.peerOrder() rotates through the live peers", async () => {
  const world = new World();
  const a = world.add("a", 1);
  await a.join();
  await world.add("b", 2, "a:1").join();
  await world.add("c", 3, "a:1").join();
  const [first, second, third] = [a.peerOrder(), a.peerOrder(), a.peerOrder()];
  assert.deepEqual([...first].sort(), ["b:2", "c:3"]);
  assert.deepEqual(second, [first[1], first[0]]);
  assert.deepEqual(third, first);
});

Deno.test("Membership.heartbeat() forgets a member dead for deadMemberKeepMs, and it does not come back dead", async () => {
  const world = new World();
  const a = world.add("a", 1);
  await a.join();
  await world.add("b", 2, "a:1").join();
  const c = world.add("c", 3, "a:1");
  await c.join();
  world.down.add("c:3");
  await a.peerFailed("c:3", new ConnectionError("connect", "Cannot connect: refused"));
  const b = world.members.get("b:2")!;
  assert.ok(b.members().some((m) => m.id === "c:3" && !m.alive), "b heard of the death");
  world.nowMs += deadMemberKeepMs - 1;
  await a.heartbeat();
  assert.ok(a.members().some((m) => m.id === "c:3"), "kept until the time is up");
  world.nowMs += 1;
  await a.heartbeat();
  assert.ok(!a.members().some((m) => m.id === "c:3"), "forgotten");
  assert.ok(!world.stores.get("a:1")!.some((m) => m.id === "c:3"), "and not stored");
  // b, which has not forgotten yet, gossips its dead record: a does not take it back.
  await b.heartbeat();
  assert.ok(!a.members().some((m) => m.id === "c:3"));
  // Alive again, c joins as any server does.
  world.down.delete("c:3");
  await world.add("c", 3, "a:1").join();
  assert.ok(alive(a).includes("c:3"));
});
