/**
 * Test certificates made with openssl: a CA, a server certificate it signs
 * for 127.0.0.1 and localhost, and a second CA that signed nothing (to be
 * refused with). For the TLS tests and the bench.
 *
 * @module
 */

/** PEM files (and their text) of {@linkcode makeCertificates}. */
export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** A CA that signed nothing here. */
  readonly otherCaFile: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const output = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(
      `Cannot make test certificates: openssl ${args[0]} failed: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
}

/** True when openssl can be run here. */
export async function haveOpenssl(): Promise<boolean> {
  try {
    return (await new Deno.Command("openssl", { args: ["version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/**
 * Makes the certificates in a new temporary directory (remove `dir` when done).
 *
 * @throws {Error} when openssl fails.
 */
export async function makeCertificates(
  names: readonly string[] = ["IP:127.0.0.1", "DNS:localhost"],
): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "cloud-test-tls-" });
  const ca = (name: string) => [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=cloud test ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ];
  await openssl(ca("ca"), dir);
  await openssl(ca("other-ca"), dir);
  await openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=cloud test server",
  ], dir);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${
      names.join(",")
    }\n`,
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  ], dir);
  return {
    dir,
    caFile: `${dir}/ca.pem`,
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server.key`,
    otherCaFile: `${dir}/other-ca.pem`,
    ca: await Deno.readTextFile(`${dir}/ca.pem`),
    cert: await Deno.readTextFile(`${dir}/server.pem`),
    key: await Deno.readTextFile(`${dir}/server.key`),
  };
}
