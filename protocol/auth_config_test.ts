import assert from "node:assert/strict";
import { CredentialError } from "./auth.ts";
import {
  credentialFromEnvironment,
  readAuthFile,
  readCertificate,
  readTokenFile,
  tlsSettings,
} from "./auth_config.ts";

const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

async function inTempDir(work: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cloud-test-authcfg-" });
  try {
    await work(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readAuthFile() refuses a file group or others may read, saying how to fix it", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/auth`;
    await Deno.writeTextFile(path, `client ${"a".repeat(32)}\n`, { mode: 0o600 });
    assert.deepEqual(readAuthFile(path).get("client"), ["a".repeat(32)]);
    await Deno.chmod(path, 0o640);
    assert.throws(
      () => readAuthFile(path),
      (error: Error) =>
        error instanceof CredentialError &&
        error.message ===
          `Cannot use the auth file ${path}: group or others may read it (mode 640); run chmod 600 ${path}`,
    );
    assert.throws(
      () => readAuthFile(`${dir}/missing`),
      /Cannot read the auth file .*: no such file/,
    );
  }));

Deno.test("credentialFromEnvironment() prefers $CLOUD_TOKEN, then $CLOUD_TOKEN_FILE", () =>
  inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/t`, "runner from-file\n");
    const env = (values: Record<string, string>) => (name: string) => values[name];
    assert.equal(credentialFromEnvironment(env({})), undefined);
    assert.deepEqual(credentialFromEnvironment(env({ CLOUD_TOKEN_FILE: `${dir}/t` })), {
      role: "runner",
      secret: "from-file",
    });
    assert.deepEqual(
      credentialFromEnvironment(env({ CLOUD_TOKEN: "client:x", CLOUD_TOKEN_FILE: `${dir}/t` })),
      { role: "client", secret: "x" },
    );
    assert.throws(
      () => credentialFromEnvironment(env({ CLOUD_TOKEN: "nonsense" })),
      CredentialError,
    );
    assert.throws(() => readTokenFile(`${dir}/none`), /Cannot read the token file/);
  }));

Deno.test("tlsSettings() takes options first, then $CLOUD_TLS_CA and $CLOUD_TLS", () =>
  inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/ca.pem`, pem);
    await Deno.writeTextFile(`${dir}/junk.pem`, "hello");
    const env = (values: Record<string, string>) => (name: string) => values[name];
    assert.equal(tlsSettings({}, env({})), undefined);
    assert.equal(tlsSettings({}, env({ CLOUD_TLS: "0" })), undefined);
    assert.deepEqual(tlsSettings({}, env({ CLOUD_TLS: "1" })), {});
    assert.deepEqual(tlsSettings({}, env({ CLOUD_TLS_CA: `${dir}/ca.pem` })), { caCerts: [pem] });
    assert.deepEqual(tlsSettings({ tls: true }, env({ CLOUD_TLS_CA: `${dir}/ca.pem` })), {});
    assert.deepEqual(tlsSettings({ caFile: `${dir}/ca.pem` }, env({})), { caCerts: [pem] });
    assert.throws(() => tlsSettings({ caFile: `${dir}/junk.pem` }, env({})), /holds no PEM/);
    assert.throws(() => readCertificate(`${dir}/ca.pem`, `${dir}/junk.pem`), /no PEM private key/);
  }));
