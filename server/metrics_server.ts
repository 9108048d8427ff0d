/**
 * The metrics of one server, as /metrics serves them: requests counted by
 * the request observer (by command and outcome, with their durations), and
 * at each scrape the gauges and counters the inspection keeps (objects by
 * role, bytes stored, jobs by state, jobs finished and how long they ran,
 * ring members by state, repair, connections, runners). docs/DASHBOARD.md
 * lists them.
 *
 * @module
 */

import { inspectionCountsMaxAgeMs } from "../limits.ts";
import { jobStates } from "../protocol/states.ts";
import { cloudVersion, type RequestEvent, type RequestObserver } from "./inspection.ts";
import { Counter, gauge, Histogram, type MetricFamily, renderExposition } from "./metrics.ts";
import type { Node } from "./node.ts";

/** Buckets of request durations, in seconds: from half a millisecond to half a minute (long polls). */
const requestBuckets = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Requests served, by command and outcome (`ack` or the NACK's reason), and how long they took. */
export class RequestMetrics {
  readonly requests = new Counter(
    "cloud_requests_total",
    "Requests served, by command and outcome (ack, or the NACK's reason).",
    ["command", "outcome"],
  );
  readonly durations = new Histogram(
    "cloud_request_duration_seconds",
    "Time from a request's arrival to its reply, by command (GETJ and WAIT include their waits).",
    { buckets: requestBuckets, labelNames: ["command"] },
  );

  /** Each command's series, looked up once: the observer runs on every request. */
  readonly #byCommand = new Map<
    string,
    { ack: { value: number }; observe: (seconds: number) => void }
  >();

  /** The observer to give the node. */
  readonly observe: RequestObserver = (event: RequestEvent) => {
    let series = this.#byCommand.get(event.command);
    if (!series) {
      series = {
        ack: this.requests.series({ command: event.command, outcome: "ack" }),
        observe: this.durations.series({ command: event.command }),
      };
      this.#byCommand.set(event.command, series);
    }
    if (event.ok) series.ack.value++;
    else this.requests.inc({ command: event.command, outcome: event.reason });
    series.observe(event.durationMs / 1000);
  };
}

/** What a scrape reads besides the node. */
export interface ScrapeSources {
  readonly requests: RequestMetrics;
  /** Connections the protocol listener holds open now. */
  readonly connections: number;
}

/** The families of one server now. */
export function serverFamilies(node: Node, sources: ScrapeSources): MetricFamily[] {
  const inspection = node.inspection;
  const counts = inspection.objectCounts(inspectionCountsMaxAgeMs);
  const jobs = inspection.catalogue.counts();
  const members = inspection.memberStates();
  const repair = inspection.repairStats();
  for (const outcome of ["done", "failed"]) inspection.jobsFinished.inc({ outcome }, 0);
  return [
    gauge("cloud_build_info", "The version of cloud this server runs, and its id (always 1).", [
      { labels: { version: cloudVersion, id: node.id }, value: 1 },
    ]),
    sources.requests.requests.family(),
    sources.requests.durations.family(),
    gauge("cloud_objects", "Objects stored here, by this server's role for them.", [
      { labels: { role: "owner" }, value: counts.owner },
      { labels: { role: "replica" }, value: counts.replica },
      { labels: { role: "stray" }, value: counts.stray },
    ]),
    gauge("cloud_store_bytes", "Bytes of object data stored here.", [
      { labels: {}, value: counts.bytes },
    ]),
    gauge(
      "cloud_jobs",
      "Jobs this server is primary of, by state (the ring's are the sum over its servers).",
      jobStates.map((state) => ({ labels: { state }, value: jobs[state] ?? 0 })),
    ),
    inspection.jobsFinished.family(),
    inspection.jobDuration.family(),
    gauge("cloud_ring_members", "Members of the ring as this server sees them, by state.", [
      { labels: { state: "alive" }, value: members.alive },
      { labels: { state: "suspect" }, value: members.suspect },
      { labels: { state: "dead" }, value: members.dead },
    ]),
    {
      name: "cloud_repair_copies_total",
      help: "Copies repair sent to owners that lacked them or held older ones, or fetched newer.",
      type: "counter",
      samples: [
        { labels: { direction: "sent" }, value: repair.sentTotal },
        { labels: { direction: "fetched" }, value: repair.fetchedTotal },
      ],
    },
    gauge(
      "cloud_repair_copies_in_flight",
      "Copies repair is sending to owners now.",
      [{ labels: {}, value: repair.inFlight }],
    ),
    gauge(
      "cloud_under_replicated_objects",
      "Objects held here that the running (or last) repair pass found an owner without, not yet copied; on a ring smaller than the copies kept, every object this server is primary of.",
      [{ labels: {}, value: repair.underReplicated }],
    ),
    gauge("cloud_connections", "Connections open on the protocol port.", [
      { labels: {}, value: sources.connections },
    ]),
    gauge("cloud_runners", "Runners that told this server who they are in the last 6 s.", [
      { labels: {}, value: inspection.runners.activeCount },
    ]),
  ];
}

/** The Prometheus text of one server now. */
export function renderServerMetrics(node: Node, sources: ScrapeSources): string {
  return renderExposition(serverFamilies(node, sources));
}
