import assert from "node:assert/strict";
import { exposure, isLoopback, positionsFor, serverCredential, weightOption } from "./cli.ts";

const base = { insecure: false, hostname: "hostA", port: 11111 };

Deno.test("isLoopback() knows 127/8, ::1 and localhost", () => {
  for (
    const address of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]
  ) {
    assert.ok(isLoopback(address), address);
  }
  for (const address of ["0.0.0.0", "::", "192.0.2.1", "10.0.0.1", "hostA", "128.0.0.1"]) {
    assert.equal(isLoopback(address), false, address);
  }
});

Deno.test("exposure() without an auth file: 127.0.0.1, advertised so, with the way out in the note", () => {
  const open = exposure({ ...base, authenticated: false });
  assert.equal(open.listen, "127.0.0.1");
  assert.equal(open.advertise, "127.0.0.1");
  assert.match(open.note!, /^no auth file: serving this machine only \(127\.0\.0\.1\)/);
  assert.match(open.note!, /cloud auth init DIR, then cloud server 11111 --auth-file DIR\/auth/);
  assert.equal(exposure({ ...base, authenticated: false, advertise: "me" }).advertise, "me");
  assert.throws(
    () => exposure({ ...base, authenticated: false, listen: "0.0.0.0" }),
    /Cannot listen on 0\.0\.0\.0 without an auth file/,
  );
  const insecure = exposure({ ...base, authenticated: false, listen: "0.0.0.0", insecure: true });
  assert.equal(insecure.advertise, "hostA");
  assert.match(insecure.note!, /^INSECURE/);
});

Deno.test("exposure() with an auth file: every address by default, the hostname advertised", () => {
  assert.deepEqual(exposure({ ...base, authenticated: true }), {
    listen: "0.0.0.0",
    advertise: "hostA",
  });
  assert.deepEqual(exposure({ ...base, authenticated: true, listen: "10.0.0.1", advertise: "x" }), {
    listen: "10.0.0.1",
    advertise: "x",
  });
});

Deno.test("serverCredential() takes --token-file, else a server $CLOUD_TOKEN, else the auth file's first server line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-test-srvcred-" });
  try {
    await Deno.writeTextFile(`${dir}/server.token`, "server from-file\n");
    await Deno.writeTextFile(`${dir}/client.token`, "client nope\n");
    const auth = new Map([["server", ["first-secret", "second-secret"]] as const]);
    const none = () => undefined;
    const env = (token: string) => (name: string) => name === "CLOUD_TOKEN" ? token : undefined;
    assert.deepEqual(serverCredential(`${dir}/server.token`, auth, env("server:env")), {
      role: "server",
      secret: "from-file",
    });
    assert.deepEqual(serverCredential(undefined, auth, env("server:env")), {
      role: "server",
      secret: "env",
    });
    // A client's token in the operator's shell is not the server's.
    assert.deepEqual(serverCredential(undefined, auth, env("client:mine")), {
      role: "server",
      secret: "first-secret",
    });
    assert.equal(serverCredential(undefined, undefined, none), undefined);
    assert.throws(
      () => serverCredential(`${dir}/client.token`, auth, none),
      /its role is client, and servers prove themselves to each other as server/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--weight: a decimal from 0.01 to 32, and positions follow it within 1 … 256", () => {
  assert.equal(weightOption("2"), 2);
  assert.equal(weightOption("0.5"), 0.5);
  for (const bad of ["0", "-1", "33", "x", "1e3", ""]) {
    assert.throws(() => weightOption(bad), /expected a number from 0\.01 to 32/, bad);
  }
  assert.equal(positionsFor(8, 1), 8);
  assert.equal(positionsFor(8, 2.5), 20);
  assert.equal(positionsFor(8, 0.01), 1);
  assert.equal(positionsFor(32, 32), 256);
});
