/**
 * The dashboard page: one HTML document, its script and its style, served
 * by the server itself (no framework, nothing fetched from elsewhere; the
 * page's policy allows only this server's own files and API). The script
 * polls the JSON API every second and redraws the panels in place: the
 * ring, jobs (counts, filters, a table), runners, repair; `#/job/<hash>`
 * shows one job (source, inputs and output, stderr live while it runs,
 * attempts and lease, the DAG around it), `#/object/<hash>` one file.
 * Data only ever enters the page as text (`textContent`), never as markup.
 *
 * @module
 */

/** The page. */
export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cloud dashboard</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <a href="#/" class="brand">cloud</a>
  <span id="summary">connecting…</span>
  <span id="updated" class="muted"></span>
</header>
<div id="token" hidden>
  <form id="token-form">
    <label>This server needs a credential (role:secret, e.g. client:…):
      <input id="token-input" type="password" autocomplete="off" placeholder="token">
    </label>
    <button type="submit">Use it</button>
  </form>
</div>
<div id="error" class="error" hidden></div>
<main id="main"><noscript>The dashboard needs JavaScript; the same data is at /api/ring, /api/jobs and /api/runners.</noscript></main>
</body>
</html>
`;

/** The page's style. */
export const dashboardStyle = `
:root { --fg: #1d232a; --muted: #687482; --line: #dde3ea; --bg: #f6f8fa; --card: #fff;
  --alive: #1a7f37; --suspect: #b35900; --dead: #c62828; --run: #0b5cad; --wait: #6e7781; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.2em; align-items: baseline; padding: .7em 1.2em; background: #1d232a; color: #fff; }
header a.brand { color: #fff; font-weight: 700; font-size: 1.2em; text-decoration: none; }
header .muted { color: #aab4bf; margin-left: auto; }
main { padding: 1em 1.2em; display: grid; gap: 1em; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .8em 1em; min-width: 0; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 1.05em; margin: 0 0 .6em; }
h2 small { font-weight: 400; color: var(--muted); margin-left: .6em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em .3em 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .9em; }
td.num, th.num { text-align: right; }
td.nowrap { white-space: nowrap; }
.mono, code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .92em; }
pre { background: #0f1419; color: #e6e1cf; padding: .7em; border-radius: 4px; overflow: auto; max-height: 28em; white-space: pre-wrap; word-break: break-word; margin: .3em 0; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 .5em; border-radius: 999px; font-size: .85em; font-weight: 600; color: #fff; background: var(--wait); }
.s-alive, .s-done, .s-complete { background: var(--alive); }
.s-suspect, .s-released { background: var(--suspect); }
.s-dead, .s-failed { background: var(--dead); }
.s-leased { background: var(--run); }
.s-waiting, .s-ready, .s-incomplete, .s-unknown { background: var(--wait); }
.counts { display: flex; gap: .5em; flex-wrap: wrap; margin-bottom: .6em; }
.counts button { border: 1px solid var(--line); background: var(--bg); border-radius: 6px; padding: .25em .7em; cursor: pointer; font: inherit; }
.counts button.on { outline: 2px solid var(--run); }
.counts b { font-size: 1.1em; margin-right: .3em; }
.filters { display: flex; gap: .6em; margin-bottom: .6em; align-items: center; }
.filters input, .filters select { font: inherit; padding: .2em .4em; }
.reason { color: var(--dead); }
.error { background: #fdecea; color: var(--dead); padding: .6em 1.2em; border-bottom: 1px solid #f5c2c0; }
#token { padding: .6em 1.2em; background: #fff8e6; border-bottom: 1px solid #f0d9a0; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: 0 0 .6em; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
.dag { display: grid; grid-template-columns: 1fr auto 1fr auto 1fr; gap: .4em 1em; align-items: start; }
.dag .arrow { color: var(--muted); font-size: 1.4em; padding-top: 1.2em; }
.dag ul { list-style: none; margin: 0; padding: 0; }
.dag li { padding: .2em 0; }
.bar { height: .5em; background: var(--line); border-radius: 3px; overflow: hidden; min-width: 4em; }
.bar span { display: block; height: 100%; background: var(--run); }
a { color: var(--run); }
`;

/** The page's script. */
export const dashboardScript = String.raw`"use strict";
(() => {
  const pollMs = 1000;
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem("cloud-token") || "";
  let filters = { state: "", name: "" };
  let busy = false;
  let lastOk = 0;

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "";
    const s = ms / 1000;
    if (s < 10) return s.toFixed(1) + " s";
    if (s < 60) return Math.round(s) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }
  function bytes(n) {
    if (n === null || n === undefined) return "";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }
  const badge = (state) => h("span", { class: "badge s-" + state, "data-state": state }, state);
  const jobLink = (hash, text) => h("a", { href: "#/job/" + hash, class: "mono" }, text || hash);
  const fileLink = (hash, text) => h("a", { href: "#/object/" + hash }, text || hash);
  const b64text = (b64) => {
    try { return new TextDecoder().decode(Uint8Array.from(atob(b64 || ""), (c) => c.charCodeAt(0))); }
    catch { return ""; }
  };

  async function api(path) {
    const response = await fetch(path, { headers: token ? { authorization: "Bearer " + token } : {} });
    if (response.status === 401) { $("token").hidden = false; throw new Error("a client credential is needed"); }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  function elapsedOf(job) {
    if (job.state === "leased") return job.runningMs !== null ? "running " + duration(job.runningMs) : "running";
    if (job.state === "done" || job.state === "failed") return job.ranMs !== null ? "ran " + duration(job.ranMs) : "";
    return "waiting " + duration(job.ageMs);
  }

  function ringPanel(ring) {
    const rows = ring.members.map((m) => {
      const info = m.info || {};
      const objects = info.objects || {};
      const repair = info.repair || {};
      const name = info.http ? h("a", { href: "http://" + info.http + "/" }, m.id) : m.id;
      return h("tr", { "data-server": m.id, "data-state": m.state },
        h("td", { class: "mono" }, name), h("td", {}, badge(m.state)),
        h("td", { class: "num" }, m.incarnation), h("td", { class: "num" }, m.vnodes),
        h("td", {}, h("div", { class: "bar", title: (m.share * 100).toFixed(1) + "%" },
          h("span", { style: null })), (m.share * 100).toFixed(1) + "%"),
        h("td", { class: "num" }, objects.owner ?? ""), h("td", { class: "num" }, objects.replica ?? ""),
        h("td", { class: "num" }, bytes(objects.bytes)), h("td", { class: "num" }, info.openJobs ?? ""),
        h("td", { class: "num" }, m.lastHeardMs === null ? "" : duration(m.lastHeardMs) + " ago"),
        h("td", { class: "muted" }, m.error || (info.reconciling ? "reconciling" : "")));
    });
    const section = h("section", { id: "ring", class: "wide" },
      h("h2", {}, "Ring", h("small", {}, ring.members.length + " servers, " + ring.replicas +
        " copies of each object, " + ring.totals.objects + " objects, " + bytes(ring.totals.bytes) +
        " (object counts up to 5 s old)")),
      h("table", {}, h("thead", {}, h("tr", {}, ["server", "state", "incarnation", "positions", "keyspace",
        "owner", "replica", "on disk", "open jobs", "last heard", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)));
    // Widths as a property, not markup: the page's policy forbids inline styles in attributes.
    section.querySelectorAll(".bar span").forEach((span, i) => {
      span.style.width = (ring.members[i].share * 100).toFixed(1) + "%";
    });
    return section;
  }

  function repairPanel(ring) {
    const rows = ring.members.filter((m) => m.info).map((m) => {
      const r = m.info.repair || {};
      return h("tr", {}, h("td", { class: "mono" }, m.id),
        h("td", { class: "num", "data-under": r.underReplicated }, r.underReplicated ?? ""),
        h("td", { class: "num" }, r.inFlight ?? ""),
        h("td", {}, r.running ? "running" : r.lastPassAgoMs === null ? "not yet" :
          duration(r.lastPassAgoMs) + " ago (" + duration(r.lastPassMs) + ")"),
        h("td", { class: "num" }, r.sentTotal ?? ""), h("td", { class: "num" }, r.fetchedTotal ?? ""));
    });
    return h("section", { id: "repair" },
      h("h2", {}, "Repair", h("small", {}, ring.totals.underReplicated + " objects below " + ring.replicas +
        " copies, " + ring.totals.inFlight + " copies in flight")),
      h("table", {}, h("thead", {}, h("tr", {}, ["server", "below R", "in flight", "last pass", "sent", "fetched"]
        .map((t) => h("th", {}, t)))), h("tbody", {}, rows)));
  }

  function runnersPanel(runners) {
    const rows = runners.runners.map((r) => h("tr", { "data-runner": r.id },
      h("td", { class: "mono" }, r.id), h("td", {}, r.host), h("td", {}, r.sandbox),
      h("td", { class: "num" }, r.jobs.length + " / " + r.lanes),
      h("td", {}, r.jobs.map((j) => [jobLink(j.hash), " (" + duration(j.runningMs) + ") "])),
      h("td", {}, r.version), h("td", {}, duration(r.lastSeenMs) + " ago"),
      h("td", { class: "mono muted" }, r.server)));
    return h("section", { id: "runners" },
      h("h2", {}, "Runners", h("small", {}, runners.runners.length + " known")),
      rows.length === 0 ? h("p", { class: "muted" }, "No runner has told the ring who it is.") :
      h("table", {}, h("thead", {}, h("tr", {}, ["runner", "host", "sandbox", "busy", "jobs", "version",
        "last seen", "via"].map((t) => h("th", {}, t)))), h("tbody", {}, rows)));
  }

  const states = ["waiting", "ready", "leased", "released", "done", "failed"];

  function jobsPanel(jobs) {
    const counts = h("div", { class: "counts", id: "job-counts" }, states.map((state) =>
      h("button", { class: filters.state === state ? "on" : "", "data-count": state,
        onclick: () => { filters.state = filters.state === state ? "" : state; refresh(); } },
        h("b", {}, jobs.counts[state] || 0), state)));
    const name = h("input", { id: "name-filter", placeholder: "name (a part, or a * pattern)", value: filters.name });
    name.addEventListener("change", () => { filters.name = name.value; refresh(); });
    const select = h("select", { id: "state-filter", onchange: (e) => { filters.state = e.target.value; refresh(); } },
      h("option", { value: "" }, "any state"), states.map((s) => h("option", { value: s, selected: filters.state === s }, s)));
    const rows = jobs.jobs.map((job) => h("tr", { "data-hash": job.hash, "data-state": job.state },
      h("td", {}, jobLink(job.hash, job.name)), h("td", { class: "mono muted" }, job.hash),
      h("td", {}, badge(job.state)), h("td", { class: "mono" }, job.runner || ""),
      h("td", { class: "nowrap" }, elapsedOf(job)), h("td", { class: "num" }, job.attempt),
      h("td", { class: "reason" }, job.reason ? job.reason + (job.detail ? ": " + job.detail : "") : "")));
    const missing = jobs.servers.unreachable.length > 0
      ? h("p", { class: "error" }, "Not answering (their jobs are missing): " + jobs.servers.unreachable.join(", ")) : null;
    return h("section", { id: "jobs", class: "wide" },
      h("h2", {}, "Jobs", h("small", {}, Object.values(jobs.counts).reduce((a, b) => a + b, 0) + " in the ring")),
      counts, h("div", { class: "filters" }, select, name), missing,
      rows.length === 0 ? h("p", { class: "muted" }, "No job matches.") :
      h("table", { id: "jobs-table" }, h("thead", {}, h("tr", {}, ["job", "hash", "state", "runner", "elapsed",
        "attempt", "failure"].map((t) => h("th", {}, t)))), h("tbody", {}, rows)),
      jobs.next ? h("p", { class: "muted" }, "Showing the newest " + jobs.jobs.length + ".") : null);
  }

  function fileItem(file) {
    return h("li", {}, fileLink(file.hash, file.name || file.hash), " ", badge(file.state),
      file.job ? [" from ", jobLink(file.job, file.jobName || file.job), " ", file.jobState ? badge(file.jobState) : ""] : "");
  }

  function dagPanel(job) {
    const inputs = job.inputFiles.length === 0 ? [h("li", { class: "muted" }, "no inputs")] : job.inputFiles.map(fileItem);
    const dependents = job.dependents.length === 0 ? [h("li", { class: "muted" }, "no job reads it")] :
      job.dependents.map((d) => h("li", { "data-dependent": d.hash }, jobLink(d.hash, d.name), " ", badge(d.state)));
    return h("section", { class: "wide", id: "dag" }, h("h2", {}, "Around this job"),
      h("div", { class: "dag" },
        h("div", {}, h("b", {}, "inputs"), h("ul", {}, inputs)), h("div", { class: "arrow" }, "→"),
        h("div", {}, h("b", {}, "this job"), h("ul", {}, h("li", {}, job.name, " ", badge(job.state)))),
        h("div", { class: "arrow" }, "→"),
        h("div", {}, h("b", {}, "output, read by"), h("ul", {}, job.outputFile ? fileItem(job.outputFile) : "", dependents))));
  }

  function jobPage(job) {
    const leased = job.state === "leased";
    const facts = [
      ["hash", h("span", { class: "mono" }, job.hash)],
      ["state", h("span", { id: "job-state" }, badge(job.state))],
      ["created", duration(job.ageMs) + " ago"],
      ["attempts", job.attempt + (job.lost ? " (" + job.lost + " leases expired without a result)" : "")],
      leased ? ["lease", (job.runningMs !== null ? "running for " + duration(job.runningMs) : "leased") +
        (job.runner ? " on runner " + job.runner : "") + ", expires in " + duration(Math.max(0, job.leaseRemainingMs))] : null,
      job.ranMs !== null ? ["ran", duration(job.ranMs)] : null,
      job.exitCode !== null ? ["exit status", job.exitCode] : null,
      job.reason ? ["failure", h("span", { class: "reason", id: "job-reason" }, job.reason + (job.detail ? ": " + job.detail : ""))] : null,
    ].filter(Boolean);
    const output = job.outputFile;
    return [
      h("section", { class: "wide", id: "job" }, h("h2", {}, "Job ", job.name, " ", badge(job.state)),
        h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      dagPanel(job),
      h("section", {}, h("h2", {}, "stderr", h("small", {}, job.stderrLive ? "live, as of " + duration(job.stderrAgeMs) + " ago" :
        leased ? "nothing yet" : "")), h("pre", { id: "job-stderr" }, b64text(job.stderr) || "(empty)")),
      h("section", {}, h("h2", {}, "Source"), h("pre", { id: "job-source" }, b64text(job.source))),
      output ? h("section", { class: "wide" }, h("h2", {}, "Output ", fileLink(output.hash, output.name)),
        h("p", {}, badge(output.state), " ", output.size !== undefined && output.state === "complete" ? bytes(output.size) : "",
          output.error ? h("span", { class: "reason" }, " " + output.error) : "")) : null,
    ];
  }

  function objectPage(file) {
    if (file.kind === "job") { location.hash = "#/job/" + file.hash; return []; }
    return [h("section", { class: "wide", id: "object" }, h("h2", {}, "File ", file.name, " ", badge(file.state)),
      h("dl", { class: "facts" },
        h("dt", {}, "hash"), h("dd", { class: "mono" }, file.hash),
        h("dt", {}, "size"), h("dd", {}, file.state === "complete" ? bytes(file.size) : ""),
        file.job ? [h("dt", {}, "made by"), h("dd", {}, jobLink(file.job, file.jobName || file.job), " ", file.jobState ? badge(file.jobState) : "")] : null,
        file.error ? [h("dt", {}, "error"), h("dd", { class: "reason" }, file.error)] : null,
        h("dt", {}, "read by"), h("dd", {}, file.dependents.length ? file.dependents.map((d) => [jobLink(d.hash, d.name), " ", badge(d.state), " "]) : "no job")),
      file.preview ? h("pre", { id: "object-preview" }, file.preview.text + (file.preview.truncated ? "\n…" : "")) :
      file.chunked ? h("p", { class: "muted" }, "A chunked file: read it with cloud client get " + file.hash) : null)];
  }

  async function overview() {
    const query = new URLSearchParams();
    if (filters.state) query.set("state", filters.state);
    if (filters.name) query.set("name", filters.name);
    const [ring, jobs, runners] = await Promise.all([api("/api/ring"), api("/api/jobs?" + query), api("/api/runners")]);
    $("summary").textContent = ring.members.filter((m) => m.state !== "dead").length + " of " + ring.members.length +
      " servers up · " + ring.totals.objects + " objects · " + Object.values(jobs.counts).reduce((a, b) => a + b, 0) + " jobs";
    return [ringPanel(ring), jobsPanel(jobs), runnersPanel(runners), repairPanel(ring)];
  }

  async function render() {
    const route = location.hash.replace(/^#/, "");
    const job = /^\/job\/([0-9a-f]{8})$/i.exec(route);
    const object = /^\/object\/([0-9a-f]{8})$/i.exec(route);
    if (job) {
      const record = await api("/api/jobs/" + job[1]);
      $("summary").textContent = "job " + record.name + " (" + record.state + ")";
      return jobPage(record);
    }
    if (object) {
      const file = await api("/api/objects/" + object[1]);
      $("summary").textContent = "file " + (file.name || file.hash) + " (" + file.state + ")";
      return objectPage(file);
    }
    return await overview();
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    const route = location.hash;
    try {
      const sections = await render();
      if (route !== location.hash) return;
      const main = $("main");
      const focused = document.activeElement && document.activeElement.id;
      const caret = focused === "name-filter" ? document.activeElement.selectionStart : null;
      main.replaceChildren(...sections.flat().filter(Boolean));
      if (focused && $(focused)) { $(focused).focus(); if (caret !== null) $(focused).setSelectionRange(caret, caret); }
      $("error").hidden = true;
      lastOk = Date.now();
    } catch (error) {
      $("error").textContent = "Cannot update: " + error.message;
      $("error").hidden = false;
    } finally {
      busy = false;
    }
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token-input").value;
    sessionStorage.setItem("cloud-token", token);
    $("token").hidden = true;
    refresh();
  });
  window.addEventListener("hashchange", refresh);
  setInterval(() => {
    if (lastOk) $("updated").textContent = "updated " + duration(Date.now() - lastOk) + " ago";
    // Typing in the name filter must not be interrupted by a redraw.
    if (document.activeElement && document.activeElement.id === "name-filter") return;
    refresh();
  }, pollMs);
  refresh();
})();
`;
