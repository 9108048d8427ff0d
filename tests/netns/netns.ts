/**
 * Hosts in network namespaces: one namespace per host, all on one bridge
 * that lives in a namespace of its own (the "switch"), so nothing is added
 * to the machine's own network namespace. A partition is a set of nftables
 * drop rules inside the hosts' namespaces (`tc netem` is not available in
 * this kernel; silent drops stand in for a link that loses everything).
 *
 * Every namespace, link and mount made here carries the run's prefix
 * (`cnx-<random>-`); {@linkcode Network.close} removes them, and
 * {@linkcode removeStaleNamespaces} removes those of crashed runs older
 * than an hour.
 *
 * @module
 */

/** Prefix of every namespace these tests make. */
export const namespacePrefix = "cnx-";

/** Namespaces of a crashed run are removed once this old. */
const staleMs = 3_600_000;

const decoder = new TextDecoder();

/** Runs a command; returns its stdout, or throws with its stderr. */
export async function run(command: string, args: readonly string[]): Promise<string> {
  const output = await new Deno.Command(command, {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `Cannot run ${command} ${args.join(" ")}: ${
        decoder.decode(output.stderr).trim()
      } (exit ${output.code})`,
    );
  }
  return decoder.decode(output.stdout);
}

/**
 * Why these tests cannot run here, or null when they can: they need root,
 * `ip` with network namespaces, and `nft`.
 */
export async function netnsUnavailable(): Promise<string | null> {
  if (Deno.build.os !== "linux") return `network namespaces need Linux (this is ${Deno.build.os})`;
  if (Deno.uid() !== 0) return `network namespaces need root (uid ${Deno.uid()})`;
  for (const tool of ["ip", "nft", "nsenter", "mount"]) {
    try {
      await run("sh", ["-c", `command -v ${tool}`]);
    } catch {
      return `${tool} is not installed (apt-get install iproute2 nftables)`;
    }
  }
  const probe = `${namespacePrefix}probe-${randomSuffix()}`;
  try {
    await run("ip", ["netns", "add", probe]);
    await run("ip", ["netns", "exec", probe, "nft", "add", "table", "inet", "probe"]);
  } catch (error) {
    return `cannot make a network namespace with nftables: ${(error as Error).message}`;
  } finally {
    await run("ip", ["netns", "del", probe]).catch(() => {});
  }
  return null;
}

/** Six random hex digits. */
export function randomSuffix(): string {
  return crypto.getRandomValues(new Uint8Array(3)).toHex();
}

/**
 * Removes namespaces whose name starts with `prefix` (this module's by
 * default) made more than `maxAgeMs` ago (an hour: runs that crashed before
 * cleaning up). Returns their names.
 */
export async function removeStaleNamespaces(
  options: { prefix?: string; maxAgeMs?: number } = {},
): Promise<string[]> {
  const prefix = options.prefix ?? namespacePrefix;
  const maxAgeMs = options.maxAgeMs ?? staleMs;
  const removed: string[] = [];
  let names: string[];
  try {
    names = [...Deno.readDirSync("/run/netns")].map((entry) => entry.name);
  } catch {
    return removed;
  }
  const nowMs = Date.now();
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    let mtime: number;
    try {
      mtime = Deno.statSync(`/run/netns/${name}`).mtime?.getTime() ?? nowMs;
    } catch {
      continue;
    }
    if (nowMs - mtime < maxAgeMs) continue;
    await run("ip", ["netns", "del", name]).catch(() => {});
    removed.push(name);
  }
  return removed;
}

/** One host: a namespace with one interface on the bridge and one address. */
export interface Host {
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
}

/** What blocks traffic between hosts: `from` cannot reach `to`. */
interface Block {
  readonly from: string;
  readonly to: string;
}

/**
 * A network of hosts on one bridge. Partitions are kept as a set of
 * one-way blocks and applied as drop rules on the receiving host (input)
 * and the sending host (output), so a block is silent both for new
 * connections and for ones already open.
 */
export class Network {
  readonly id: string;
  readonly #prefix: string;
  readonly #subnet: string;
  readonly #switch: string;
  readonly #hosts = new Map<string, Host>();
  readonly #blocks = new Map<string, Block>();
  #closed = false;

  private constructor(id: string) {
    this.id = id;
    this.#prefix = `${namespacePrefix}${id}-`;
    this.#switch = `${this.#prefix}sw`;
    // 10.<128-254>.<0-255>.0/24: the hosts live on a bridge inside a namespace of
    // their own, so this only needs to differ between runs for the logs' sake.
    const bytes = crypto.getRandomValues(new Uint8Array(2));
    this.#subnet = `10.${128 + (bytes[0]! % 127)}.${bytes[1]!}`;
  }

  /** Makes the switch namespace and its bridge. */
  static async create(): Promise<Network> {
    await removeStaleNamespaces();
    const network = new Network(randomSuffix());
    try {
      await run("ip", ["netns", "add", network.#switch]);
      await network.#ip(network.#switch, ["link", "add", "br0", "type", "bridge"]);
      await network.#ip(network.#switch, ["link", "set", "br0", "up"]);
      await network.#ip(network.#switch, ["link", "set", "lo", "up"]);
    } catch (error) {
      await network.close();
      throw error;
    }
    return network;
  }

  /** Every host made so far. */
  get hosts(): Host[] {
    return [...this.#hosts.values()];
  }

  /** A host by name. */
  host(name: string): Host {
    const host = this.#hosts.get(name);
    if (!host) throw new Error(`Cannot find host ${name} in network ${this.id}`);
    return host;
  }

  /** Adds a host: a namespace, a veth pair to the bridge, an address, and an empty filter. */
  async addHost(name: string): Promise<Host> {
    if (this.#hosts.has(name)) throw new Error(`Cannot add host ${name}: it exists`);
    if (!/^[a-z0-9]{1,8}$/.test(name)) throw new Error(`Cannot add host: bad name (${name})`);
    const index = this.#hosts.size + 1;
    if (index > 250) throw new Error(`Cannot add host ${name}: the subnet is full`);
    const host = { name, namespace: `${this.#prefix}${name}`, address: `${this.#subnet}.${index}` };
    this.#hosts.set(name, host);
    await run("ip", ["netns", "add", host.namespace]);
    await run("ip", [
      "link",
      "add",
      "eth0",
      "netns",
      host.namespace,
      "type",
      "veth",
      "peer",
      "name",
      `v${index}`,
      "netns",
      this.#switch,
    ]);
    await this.#ip(this.#switch, ["link", "set", `v${index}`, "master", "br0", "up"]);
    await this.#ip(host.namespace, ["addr", "add", `${host.address}/24`, "dev", "eth0"]);
    await this.#ip(host.namespace, ["link", "set", "eth0", "up"]);
    await this.#ip(host.namespace, ["link", "set", "lo", "up"]);
    await this.#nft(
      host.namespace,
      [
        "add table inet cloudtest",
        "add set inet cloudtest from_blocked { type ipv4_addr; }",
        "add set inet cloudtest to_blocked { type ipv4_addr; }",
        "add chain inet cloudtest input { type filter hook input priority 0; policy accept; }",
        "add chain inet cloudtest output { type filter hook output priority 0; policy accept; }",
        "add rule inet cloudtest input ip saddr @from_blocked drop",
        "add rule inet cloudtest output ip daddr @to_blocked drop",
      ].join("\n"),
    );
    return host;
  }

  /** Blocks traffic both ways between every host of `a` and every host of `b`. */
  async partition(a: readonly string[], b: readonly string[]): Promise<void> {
    await this.block(a, b);
    await this.block(b, a);
  }

  /** Blocks traffic from every host of `from` to every host of `to` (one way). */
  async block(from: readonly string[], to: readonly string[]): Promise<void> {
    for (const f of from) {
      for (const t of to) {
        if (f === t) continue;
        this.host(f);
        this.host(t);
        this.#blocks.set(`${f}>${t}`, { from: f, to: t });
      }
    }
    await this.#apply(new Set([...from, ...to]));
  }

  /** Cuts one host off from every other host (both ways). */
  async isolate(name: string): Promise<void> {
    await this.partition([name], this.hosts.map((h) => h.name).filter((n) => n !== name));
  }

  /** Removes every block (or only those touching `names`). */
  async heal(names?: readonly string[]): Promise<void> {
    const touched = new Set<string>();
    for (const [key, block] of this.#blocks) {
      if (names && !names.includes(block.from) && !names.includes(block.to)) continue;
      this.#blocks.delete(key);
      touched.add(block.from);
      touched.add(block.to);
    }
    await this.#apply(touched);
  }

  /** True while any block is in place. */
  get partitioned(): boolean {
    return this.#blocks.size > 0;
  }

  /** Rewrites the filter sets of `names` from the blocks. */
  async #apply(names: ReadonlySet<string>): Promise<void> {
    await Promise.all([...names].map(async (name) => {
      const host = this.host(name);
      const from = [...this.#blocks.values()].filter((b) => b.to === name)
        .map((b) => this.host(b.from).address);
      const to = [...this.#blocks.values()].filter((b) => b.from === name)
        .map((b) => this.host(b.to).address);
      const script = [
        "flush set inet cloudtest from_blocked",
        "flush set inet cloudtest to_blocked",
        ...(from.length ? [`add element inet cloudtest from_blocked { ${from.join(", ")} }`] : []),
        ...(to.length ? [`add element inet cloudtest to_blocked { ${to.join(", ")} }`] : []),
      ];
      await this.#nft(host.namespace, script.join("\n"));
    }));
  }

  /**
   * The command line that runs `command` inside host `name`: `nsenter`
   * enters the network namespace only (`ip netns exec` would also mount a
   * fresh /sys, hiding the cgroup hierarchies the runner's sandbox needs),
   * and execs `command`, so its pid is the command's.
   */
  exec(name: string, command: readonly string[]): string[] {
    return ["nsenter", `--net=/run/netns/${this.host(name).namespace}`, "--", ...command];
  }

  /** Removes every namespace (and so every link and rule) of this network. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const names = [...this.#hosts.values()].map((h) => h.namespace);
    await Promise.all(
      [...names, this.#switch].map((ns) => run("ip", ["netns", "del", ns]).catch(() => {})),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #ip(namespace: string, args: readonly string[]): Promise<string> {
    return run("ip", ["-n", namespace, ...args]);
  }

  async #nft(namespace: string, script: string): Promise<void> {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", namespace, "nft", "-f", "-"],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(script + "\n"));
    await writer.close();
    const output = await child.output();
    if (!output.success) {
      throw new Error(
        `Cannot apply filter rules in ${namespace}: ${decoder.decode(output.stderr).trim()}`,
      );
    }
  }
}
