import assert from "node:assert/strict";
import fc from "fast-check";
import { InvalidArgumentError } from "commander";
import {
  defaultPort,
  durationOption,
  formatDuration,
  integerOption,
  logFormatOption,
  logLine,
  parseDuration,
  parseServer,
  parseServerList,
  parseTarget,
  positiveInteger,
} from "./options.ts";

Deno.test("integerOption() accepts integers within its bounds", () => {
  const parse = integerOption(1, 10);
  assert.equal(parse("1"), 1);
  assert.equal(parse("10"), 10);
});

Deno.test("integerOption() rejects what is not a decimal integer within bounds", () => {
  const parse = integerOption(1, 10);
  for (const text of ["0", "11", "-1", "1.5", "1e1", " 1", "", "0x5", "99999999999999999999"]) {
    assert.throws(() => parse(text), InvalidArgumentError, text);
  }
});

Deno.test("integerOption() parses exactly the decimal integers within bounds (property)", () => {
  fc.assert(fc.property(fc.integer({ min: -1000, max: 1000 }), (value) => {
    const parse = integerOption(0, 500);
    if (value >= 0 && value <= 500) assert.equal(parse(String(value)), value);
    else assert.throws(() => parse(String(value)), InvalidArgumentError);
  }));
});

Deno.test("positiveInteger() takes 1 and up, nothing else", () => {
  assert.equal(positiveInteger("1"), 1);
  assert.equal(positiveInteger("600000"), 600_000);
  for (const text of ["0", "-3", "2.5", "x"]) assert.throws(() => positiveInteger(text));
});

Deno.test("parseServer() splits host:port, defaulting both", () => {
  assert.deepEqual(parseServer("hostA:1234"), { host: "hostA", port: 1234 });
  assert.deepEqual(parseServer("hostA"), { host: "hostA", port: defaultPort });
  assert.deepEqual(parseServer(":99"), { host: "localhost", port: 99 });
  assert.throws(() => parseServer("h:0"), InvalidArgumentError);
  assert.throws(() => parseServer("h:70000"), InvalidArgumentError);
});

Deno.test("parseServer() is strict: a bad port or host is refused with the reason, IPv6 in brackets", () => {
  assert.throws(() => parseServer("127.0.0.1:abc"), /invalid port in server "127\.0\.0\.1:abc"/);
  assert.throws(() => parseServer("h:"), /invalid port/);
  assert.throws(() => parseServer("h:12 "), /invalid port/);
  assert.throws(() => parseServer("h:+12"), /invalid port/);
  assert.throws(() => parseServer("a b:12"), /invalid host/);
  assert.throws(() => parseServer("::1"), /IPv6 address in brackets/);
  assert.deepEqual(parseServer("[::1]:99"), { host: "::1", port: 99 });
  assert.deepEqual(parseServer("[::1]"), { host: "::1", port: defaultPort });
});

Deno.test("parseServerList() reads comma-separated servers in order", () => {
  assert.deepEqual(parseServerList("a:1,b:2, c"), [
    { host: "a", port: 1 },
    { host: "b", port: 2 },
    { host: "c", port: defaultPort },
  ]);
  assert.deepEqual(parseServerList("a:1,"), [{ host: "a", port: 1 }]);
  assert.throws(() => parseServerList(","), /at least one server/);
  assert.throws(() => parseServerList("a:1,b:x"), /invalid port in server "b:x"/);
});

Deno.test("parseDuration() takes ms, s, m, h, and a plain number as milliseconds", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration("2000"), 2000);
  for (const text of ["", "1 s", "s", "-1s", "1d", "1e3", "1.s", "0x10"]) {
    assert.throws(() => parseDuration(text), InvalidArgumentError, text);
  }
  const parse = durationOption(100, 60_000);
  assert.equal(parse("1m"), 60_000);
  assert.throws(() => parse("2m"), /from 100ms to 1m/);
  assert.throws(() => parse("99"), InvalidArgumentError);
  assert.equal(formatDuration(7_200_000), "2h");
  assert.equal(formatDuration(90_000), "90s");
  assert.equal(formatDuration(1500), "1500ms");
});

Deno.test("parseDuration() reads back what formatDuration() writes (property)", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 10 ** 12 }), (ms) => {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }));
});

Deno.test("parseTarget() reads [host] port as the original runner did", () => {
  assert.deepEqual(parseTarget(), { host: "localhost", port: defaultPort });
  assert.deepEqual(parseTarget("2222"), { host: "localhost", port: 2222 });
  assert.deepEqual(parseTarget("hostB", "3333"), { host: "hostB", port: 3333 });
  assert.throws(() => parseTarget("hostB"), InvalidArgumentError);
});

Deno.test("logLine() writes text or one JSON object, with the server's id apart", () => {
  assert.equal(logLine("[h:1] ring: h:1", "text", "T"), "T [h:1] ring: h:1");
  assert.deepEqual(JSON.parse(logLine("[h:1] job j failed: a\nb", "json", "T")), {
    time: "T",
    server: "h:1",
    message: "job j failed: a\nb",
  });
  assert.deepEqual(JSON.parse(logLine("runner: 2 at once", "json", "T")), {
    time: "T",
    message: "runner: 2 at once",
  });
  assert.throws(() => logFormatOption("xml"));
});
