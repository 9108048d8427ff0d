import assert from "node:assert/strict";
import type { AuthSecrets } from "../protocol/auth.ts";
import { bearerAuthorize, bearerAuthorized } from "./http_auth.ts";

const secrets: AuthSecrets = new Map([
  ["client", ["c".repeat(32), "d".repeat(32)]],
  ["runner", ["r".repeat(32)]],
]);

Deno.test("bearerAuthorized() accepts a secret of the role named, any of the role's", () => {
  assert.ok(bearerAuthorized(secrets, `Bearer client:${"c".repeat(32)}`));
  assert.ok(bearerAuthorized(secrets, `bearer client:${"d".repeat(32)}`));
  assert.ok(bearerAuthorized(secrets, `Bearer runner:${"r".repeat(32)}`));
});

Deno.test("bearerAuthorized() refuses no header, another scheme, a wrong secret or role", () => {
  assert.equal(bearerAuthorized(secrets, null), false);
  assert.equal(bearerAuthorized(secrets, ""), false);
  assert.equal(bearerAuthorized(secrets, `Basic client:${"c".repeat(32)}`), false);
  assert.equal(bearerAuthorized(secrets, `Bearer client:${"r".repeat(32)}`), false);
  assert.equal(bearerAuthorized(secrets, `Bearer runner:${"c".repeat(32)}`), false);
  assert.equal(bearerAuthorized(secrets, `Bearer server:${"c".repeat(32)}`), false);
  assert.equal(bearerAuthorized(secrets, `Bearer ${"c".repeat(32)}`), false);
  assert.equal(bearerAuthorized(secrets, `Bearer client:${"c".repeat(31)}`), false);
});

Deno.test("bearerAuthorize() reads the request's Authorization header", async () => {
  const authorize = bearerAuthorize(secrets);
  const good = new Request("http://x/api/ring", {
    headers: { authorization: `Bearer client:${"c".repeat(32)}` },
  });
  assert.ok(await authorize(good));
  assert.equal(await authorize(new Request("http://x/api/ring")), false);
});
