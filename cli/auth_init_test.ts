import assert from "node:assert/strict";
import { readAuthFile, readTokenFile } from "../protocol/auth_config.ts";
import { roles } from "../protocol/auth.ts";
import { freshSecret, initAuth } from "./auth_init.ts";

Deno.test("initAuth() writes an auth file and a token per role, mode 600, that agree", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-test-init-" });
  try {
    const paths = await initAuth(`${dir}/ring`);
    assert.deepEqual(paths.map((p) => p.slice(dir.length)), [
      "/ring/auth",
      "/ring/client.token",
      "/ring/runner.token",
      "/ring/server.token",
    ]);
    for (const path of paths) assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600, path);
    assert.equal((await Deno.stat(`${dir}/ring`)).mode! & 0o777, 0o700);
    const secrets = readAuthFile(`${dir}/ring/auth`);
    const seen = new Set<string>();
    for (const role of roles) {
      const token = readTokenFile(`${dir}/ring/${role}.token`);
      assert.equal(token.role, role);
      assert.match(token.secret, /^[0-9a-f]{64}$/);
      assert.deepEqual(secrets.get(role), [token.secret]);
      seen.add(token.secret);
    }
    assert.equal(seen.size, 3, "a secret of its own per role");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("initAuth() refuses to overwrite existing files unless forced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-test-init-" });
  try {
    await initAuth(dir);
    const before = await Deno.readTextFile(`${dir}/auth`);
    await assert.rejects(
      initAuth(dir),
      /Cannot write new credentials: .*\/auth, .*client\.token.* already exist.*--force/,
    );
    assert.equal(await Deno.readTextFile(`${dir}/auth`), before, "nothing was replaced");
    await Deno.chmod(`${dir}/auth`, 0o644);
    await initAuth(dir, { force: true });
    assert.notEqual(await Deno.readTextFile(`${dir}/auth`), before);
    assert.equal((await Deno.stat(`${dir}/auth`)).mode! & 0o777, 0o600, "mode reset by --force");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("freshSecret() is 64 hex digits, never the same twice", () => {
  const secrets = new Set(Array.from({ length: 1000 }, freshSecret));
  assert.equal(secrets.size, 1000);
  for (const secret of secrets) assert.match(secret, /^[0-9a-f]{64}$/);
});
