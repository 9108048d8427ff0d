import assert from "node:assert/strict";
import { parsePeakRssBytes } from "./procs.ts";

Deno.test("parsePeakRssBytes() reads VmHWM in bytes", () => {
  const status = "Name:\tredis-server\nVmPeak:\t  100 kB\nVmHWM:\t    8192 kB\nVmRSS:\t 4096 kB\n";
  assert.equal(parsePeakRssBytes(status), 8192 * 1024);
  assert.equal(parsePeakRssBytes("Name:\tzombie\n"), undefined);
});
