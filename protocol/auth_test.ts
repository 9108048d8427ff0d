import assert from "node:assert/strict";
import fc from "fast-check";
import {
  authProof,
  commandRoles,
  constantTimeEqual,
  CredentialError,
  formatAuthFile,
  formatTokenFile,
  parseAuthFile,
  parseToken,
  parseTokenFile,
  permits,
  roles,
  verifyProof,
} from "./auth.ts";
import { encodeRequest, parseRequest, ProtocolError } from "./message.ts";

/** docs/PROTOCOL.md 7.8; each checked with `openssl dgst -sha256 -hmac <secret>`. */
const vectors = [
  {
    role: "client",
    secret: "s3cret",
    nonce: "0123456789abcdef0123456789abcdef",
    proof: "0cb6adcb3a088ed4cfa423bca07d006fcee3cb186b0628c4751ff2fdc7aa9a89",
  },
  {
    role: "runner",
    secret: "7d0e5a1c9b3f4e2a8c6d0b1f3e5a7c9d",
    nonce: "00112233445566778899aabbccddeeff",
    proof: "7ee1334dde29c36e49e6668c8dd3ac3639187f52e939cedae1b85bc0b2076cae",
  },
] as const;

Deno.test("authProof() matches the test vectors of PROTOCOL.md", async () => {
  for (const vector of vectors) {
    assert.equal(await authProof(vector, vector.nonce), vector.proof);
  }
});

Deno.test("verifyProof() accepts any secret of the role, and nothing else", async () => {
  const { secret, nonce, proof } = vectors[0];
  assert.equal(await verifyProof([secret], "client", nonce, proof), true);
  // Rotation: the old and the new secret are both accepted.
  assert.equal(await verifyProof(["new-secret-0123456789", secret], "client", nonce, proof), true);
  assert.equal(await verifyProof(["another"], "client", nonce, proof), false);
  assert.equal(await verifyProof([], "client", nonce, proof), false);
  // The proof binds the role and the nonce.
  assert.equal(await verifyProof([secret], "runner", nonce, proof), false);
  assert.equal(await verifyProof([secret], "client", "f".repeat(32), proof), false);
  assert.equal(await verifyProof([secret], "client", nonce, proof.toUpperCase()), false);
  assert.equal(await verifyProof([secret], "client", nonce, proof.slice(0, 62)), false);
});

Deno.test("constantTimeEqual() agrees with a plain comparison", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
      const equal = a.length === b.length && a.every((byte, i) => byte === b[i]);
      assert.equal(constantTimeEqual(a, b), equal);
      assert.equal(constantTimeEqual(a, a.slice()), true);
    }),
  );
});

Deno.test("permits() gives each role its own commands and those of the roles below", () => {
  const client = [
    "ADD",
    "MADD",
    "GET",
    "GETM",
    "JADD",
    "STAT",
    "WAIT",
    "GETS",
    "INFO",
    "JOBS",
    "JOBI",
    "RUNS",
    "CNCL",
  ] as const;
  const runner = ["GETJ", "HAVJ", "UPD", "RLSE", "RNEW", "PROG", "RUNR"] as const;
  const server = ["BADD", "SADD", "SUCC", "PROB", "PEER", "MEMB", "HAVE", "PULL", "HOLD"] as const;
  for (const command of client) assert.ok(roles.every((role) => permits(role, command)));
  for (const command of runner) {
    assert.equal(permits("client", command), false, command);
    assert.ok(permits("runner", command) && permits("server", command), command);
  }
  for (const command of server) {
    assert.equal(permits("client", command) || permits("runner", command), false, command);
    assert.ok(permits("server", command), command);
  }
  assert.deepEqual(
    Object.entries(commandRoles).filter(([, role]) => role === null).map(([c]) => c).sort(),
    ["AUTH", "HELO", "STOP"],
  );
  assert.equal(
    Object.keys(commandRoles).length,
    client.length + runner.length + server.length + 3,
  );
});

Deno.test("parseRequest() reads HELO and AUTH, and refuses malformed ones", () => {
  const proof = vectors[0].proof;
  assert.deepEqual(parseRequest("HELO"), { command: "HELO" });
  assert.deepEqual(parseRequest(`AUTH:client:${proof}`), {
    command: "AUTH",
    role: "client",
    proof,
  });
  assert.equal(encodeRequest({ command: "AUTH", role: "client", proof }), `AUTH:client:${proof}`);
  for (const bad of ["HELO:x", "AUTH:client", `AUTH:Client:${proof}`, "AUTH:client:abc"]) {
    assert.throws(() => parseRequest(bad), ProtocolError, bad);
  }
  assert.throws(() => parseRequest(`AUTH:client:${proof.toUpperCase()}`), ProtocolError);
});

Deno.test("parseToken() splits <role>:<secret> at the first colon", () => {
  assert.deepEqual(parseToken("client:abc:def"), { role: "client", secret: "abc:def" });
  assert.deepEqual(parseToken(" runner:x\n"), { role: "runner", secret: "x" });
  for (const bad of ["client", "Client:x", "client:", ":x", "client:a b", "admin:x"]) {
    assert.throws(() => parseToken(bad), CredentialError, bad);
  }
});

Deno.test("parseTokenFile() wants one line '<role> <secret>', and round-trips", () => {
  const credential = { role: "server", secret: "abc" } as const;
  assert.deepEqual(parseTokenFile(formatTokenFile(credential), "t"), credential);
  assert.deepEqual(parseTokenFile("# mine\n\nrunner   abc\n", "t"), {
    role: "runner",
    secret: "abc",
  });
  for (const bad of ["", "runner\n", "runner abc\nclient d\n", "runner a b\n", "nobody abc\n"]) {
    assert.throws(
      () => parseTokenFile(bad, "/etc/t"),
      (error: Error) => error instanceof CredentialError && error.message.includes("/etc/t"),
      JSON.stringify(bad),
    );
  }
});

Deno.test("parseAuthFile() collects several secrets per role and names a bad line", () => {
  const long = (c: string) => c.repeat(16);
  const text = `# comment\n\nclient ${long("a")}\nclient ${long("b")}\n  server ${long("c")}  \n`;
  const secrets = parseAuthFile(text, "auth");
  assert.deepEqual(secrets.get("client"), [long("a"), long("b")]);
  assert.deepEqual(secrets.get("server"), [long("c")]);
  assert.equal(secrets.get("runner"), undefined);
  const round = formatAuthFile([{ role: "runner", secret: long("d") }]);
  assert.deepEqual(parseAuthFile(round, "auth").get("runner"), [long("d")]);
  const cases: [string, RegExp][] = [
    [`client ${long("a")}\nrunner\n`, /auth: line 2 is not/],
    [`client ${long("a")} extra\n`, /line 1 is not/],
    [`boss ${long("a")}\n`, /auth line 1: unknown role "boss"/],
    ["client short\n", /line 1 is too short \(at least 16/],
    ["# nothing\n", /lists no secret/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => parseAuthFile(bad, "auth"), message, bad);
  }
});
