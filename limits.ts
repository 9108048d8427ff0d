/**
 * Every bound the system enforces, in one place, each with the reason for its
 * number. Crossing one is a named, reported error, never a crash.
 *
 * @module
 */

/** Largest frame payload: the header has four hex digits of length. */
export const framePayloadBytesMax = 0xffff;

/** Header length: four hex digits of length and two of checksum. */
export const frameHeaderBytes = 6;

/**
 * Largest name (file, job, output) in bytes. Names travel inside frames next
 * to data; 1024 leaves almost all of a frame for data and is far longer than
 * any path a user would type.
 */
export const nameBytesMax = 1024;

/**
 * Largest inline object (raw bytes before base64). Base64 turns 3 bytes into
 * 4, and a BADD frame carries name, salt, metadata and the data; 45 000 raw
 * bytes is 60 000 base64 characters, leaving 5 535 bytes for the rest.
 */
export const inlineBytesMax = 45_000;

/**
 * Refs in one index object or manifest of a chunked file (its fan-out). A
 * ref is 16 bytes, so 2048 refs (32 KiB plus a small header) fit in one
 * object of `inlineBytesMax`, and as base64 in a MADD or UPD frame next to
 * the name, stderr and detail. With 45 000-byte chunks one level covers
 * 92 MB, two levels 188 GB.
 */
export const chunkRefsMax = 2048;

/**
 * Deepest chunk tree (levels of refs between a manifest and the data). Four
 * levels of 2048 refs address more than 2^53 bytes, the largest size a
 * manifest may state; deeper trees are refused as malformed.
 */
export const chunkTreeDepthMax = 4;

/**
 * Chunk requests (ADD, GET) one transfer keeps in flight. Each holds one
 * chunk raw, as base64 and as a frame (about 170 KB), so 32 cost about
 * 5 MB of a client's or runner's memory. A chunk's round trip through its
 * owner and replica takes a few milliseconds, so fewer in flight leave the
 * servers idle: on loopback 16 gave half the upload rate of 32, and 64 no
 * more than 32 (bench/bulk.ts).
 */
export const chunksInFlight = 32;

/**
 * Most inputs of one job. Each input is 9 bytes on the wire (":" + 8 hex);
 * 4096 inputs is 36 KiB, which fits in a JADD frame with the source.
 */
export const jobInputsMax = 4096;

/** Bytes asked of the socket per read: one whole maximal frame. */
export const readChunkBytes = 72 * 1024;

/**
 * How long to wait for a TCP connection. Loopback and LAN connects take well
 * under a millisecond; 3 s tolerates a loaded machine yet detects a dead
 * host before a client gives up.
 */
export const connectTimeoutMs = 3_000;

/**
 * Default limit on one request's reply. Requests that may block (WAIT) pass
 * their own, longer limit. 30 s covers a server forwarding through a peer
 * that is being declared dead.
 */
export const requestTimeoutMs = 30_000;

/**
 * Most ring positions (virtual nodes) of one server. 256 positions per
 * server balance load to within a few percent; more only slows lookups and
 * bloats membership messages. GETS lists every position of every server in
 * one frame (about 25 bytes each), so a ring holds at most about 2 500
 * positions in all: ten servers at 256, about 300 at the default 8.
 */
export const ringSaltsMax = 256;

/**
 * Most positions of a whole ring: GETS lists them all in one reply frame,
 * about 25 bytes each. A server whose joining would pass this refuses to
 * start (with fewer `--vnodes` it fits).
 */
export const ringPositionsMax = 2_500;

/**
 * Longest failure detail kept with a job (UTF-8 bytes): one line for
 * people, e.g. the exception message. Longer details are cut. It travels in
 * the job's metadata, which must fit one frame with stderr and the source.
 */
export const detailBytesMax = 1024;

/**
 * Longest failure reason a report (UPD) may give: one lower-case word such
 * as `timeout` or `output-limit`, a token for programs, not a message (the
 * detail is the message).
 */
export const reasonCharsMax = 32;

/**
 * Most entries of one HAVE request (anti-entropy). An entry is about 24
 * bytes on the wire, so 2000 entries (48 KB) fit in one frame.
 */
export const haveEntriesMax = 2000;

/**
 * Connect timeout between servers. Peers sit on one LAN; a live peer
 * accepts within milliseconds, so 1 s separates a dead peer from a busy one
 * without stalling requests for long.
 */
export const peerConnectTimeoutMs = 1_000;

/**
 * Reply timeout between servers. A peer request is one local SQLite
 * operation on the peer (no further forwarding), so 10 s means the peer is
 * stuck, not busy.
 */
export const peerRequestTimeoutMs = 10_000;

/**
 * Idle connections kept per peer. One request is in flight per connection,
 * so this should match the concurrency a server sees from its clients
 * (tens of connections): fewer, and every burst opens and closes
 * connections (a TCP handshake and a PEER exchange each). 64 sockets per
 * peer is cheap for a handful of servers.
 */
export const peerIdleConnectionsMax = 64;

/**
 * Largest job source. A job travels in one frame (JADD, and BADD between
 * servers with its metadata), which also carries its inputs and, once
 * finished, its stderr; 16 KiB of source leaves room for both.
 */
export const sourceBytesMax = 16 * 1024;

/**
 * Largest stderr kept with a job. Stored in the job's metadata, which must
 * fit in one BADD frame with the source and inputs: 8 KiB (about 14 KB
 * after two base64 passes). Longer stderr keeps its head and tail.
 */
export const stderrBytesMax = 8 * 1024;

/**
 * Salts tried when a hash is taken by a different object. Each probe is a
 * 1 in 2^32 event in a sparse ring, so 64 failures in a row mean something
 * is wrong rather than unlucky.
 */
export const saltProbesMax = 64;

/**
 * Leases that may expire before a job is failed as lost. A job that kills
 * or hangs its runner three times would do it again.
 */
export const jobLostMax = 3;

/**
 * Default lease: how long a job stays handed out without a sign of life
 * from its runner. A runner renews the leases of the jobs it runs (RNEW)
 * every third of this, so a job may run as long as its wall-time limit
 * allows; a runner that dies has its jobs handed out again at most this
 * long after its last renewal (plus a GETJ poll, `jobPollMs`): 10 s keeps
 * that within 15 s while two renewals in a row may be lost.
 */
export const leaseMsDefault = 10_000;

/**
 * How many of the lease a runner lets pass between renewals: three turns
 * per lease, so that one lost or slow renewal never costs a lease.
 */
export const leaseRenewalsPerLease = 3;

/**
 * Longest gap between a runner's renewals, however long the lease: a
 * cancelled job learns it from the next renewal's reply, so a running job
 * is stopped within 2 s of its cancel (this, a round trip, the kill).
 */
export const leaseRenewMsMax = 1_000;

/** Shortest gap between a runner's renewals, however short the lease: bounds their cost. */
export const leaseRenewMsMin = 100;

/**
 * Leases one RNEW carries: 42 bytes each (hash, token, separators), 1 024
 * make 43 KB, inside one frame, with the reply's one word a lease.
 * A runner holding more sends several.
 */
export const renewEntriesMax = 1_024;

/** How long a runner waits for an RNEW reply: a third of the default lease. */
export const renewRequestMs = 3_000;

/**
 * Most client connections one server serves at once. Each costs a socket
 * and a 72 KB read buffer; 1024 covers many runners and clients while
 * keeping memory under 100 MB.
 */
export const connectionsMax = 1024;

/**
 * A connection with no request for this long is closed: it holds a slot of
 * `connectionsMax`. Clients reconnect on demand.
 */
export const idleMs = 120_000;

/**
 * How often a server looks for connections past their deadline (idle, or a
 * frame arriving too slowly): a tenth of the shorter limit, at least every
 * 10 ms and at most every second, so a deadline is enforced within 10 % of
 * itself (or a second) and an idle server wakes at most once a second.
 */
export const deadlineSweepMsMax = 1_000;

/**
 * A frame that has started arriving must finish within this long: a sender
 * that stops mid-frame is broken or hostile.
 */
export const frameReadMs = 15_000;

/**
 * Most connections one remote address holds at once (connections that
 * authenticated as `runner` or `server` do not count: a runner holds one
 * per lane, peers keep pools to each other). With `connectionsMax` 1024,
 * one host cannot take more than a sixteenth of the slots, so it cannot
 * keep others out; 64 still covers a client with 32 chunk transfers in
 * flight.
 */
export const connectionsPerAddressMax = 64;

/**
 * On a server with an auth file, a connection must authenticate within
 * this long of being accepted, or it is closed: an unauthenticated
 * connection can do nothing, so it must not hold a slot for `idleMs`.
 * Ten seconds cover a TLS handshake and two round trips on a slow link.
 */
export const authHandshakeMs = 10_000;

/** Random bytes in a HELO nonce: 128 bits, 32 hex digits, never repeated in practice. */
export const authNonceBytes = 16;

/**
 * Failed AUTHs one remote address may make in a burst before it must
 * wait; then one more every `authFailureRefillMs`. A client with a wrong
 * secret learns so at its first try; guessing a 256-bit secret at one try
 * a second is hopeless.
 */
export const authFailuresBurst = 10;

/** How long an address that used up `authFailuresBurst` waits for each further try. */
export const authFailureRefillMs = 1_000;

/**
 * Remote addresses whose failed AUTHs a server remembers; beyond it the
 * ones that waited longest are forgotten (they have mostly refilled).
 * Bounds the memory an attacker with many addresses can make it spend.
 */
export const authFailureAddressesMax = 4096;

/** Shortest secret a server accepts in its auth file; `cloud auth init` makes 64 hex digits. */
export const authSecretCharsMin = 16;

/** Random bytes in a secret `cloud auth init` makes (256 bits). */
export const authSecretBytes = 32;

/**
 * How often a server checks its ring neighbours. With two misses to declare
 * a silent peer dead (a refused connection counts at once), repair starts
 * within about a second of a crash.
 */
export const heartbeatMs = 500;

/**
 * Heartbeats a ring neighbour may miss in a row before other members are
 * asked to reach it: one miss is a lost message, two a silent server.
 */
export const heartbeatMissesMax = 2;

/**
 * How long a ping (a MEMB exchange) may take. A live peer answers from
 * memory within milliseconds; 2 s tolerates a busy one, and keeps a
 * heartbeat round (every `heartbeatMs`) from piling up behind a dead one.
 */
export const pingTimeoutMs = 2_000;

/**
 * How long an indirect probe (PROB) may take: the member asked pings the
 * suspect itself (`pingTimeoutMs`), then answers.
 */
export const probeTimeoutMs = 4_000;

/**
 * Other members asked to reach a suspect before it is declared dead (SWIM's
 * indirect ping): three make it unlikely that one flaky link kills a
 * server, and cost three requests per suspect.
 */
export const indirectProbesMax = 3;

/** How often waiting jobs whose inputs live elsewhere re-check them. */
export const readinessSweepMs = 100;

/**
 * Full anti-entropy pass interval, on top of the pass run at every ring
 * change. It catches anything a change-triggered pass missed.
 */
export const repairIntervalMs = 30_000;

/**
 * Rounds of writes one replication makes before it gives up. A round writes
 * to the owners the ring names then; an owner that does not answer is
 * declared dead (or not) before the next round asks the ring again, so 4
 * rounds store a copy through three owners dying during one write.
 */
export const replicationRoundsMax = 4;

/** Copies sent at once per peer during repair: enough to hide latency. */
export const repairConcurrency = 8;

/** Longest WAIT a client may ask for: one hour. */
export const waitMsMax = 3_600_000;

/**
 * A WAIT forwarded to an object's primary may take this much longer than
 * the wait itself before the forwarding server gives up on the reply: the
 * primary's own peer requests (a PULL of a copy) take up to
 * `peerRequestTimeoutMs`.
 */
export const waitForwardSlackMs = 10_000;

/**
 * A WAIT reads the object again at least this often: a result stored on
 * another server (a replica that took over) wakes no waiter here.
 */
export const waitRecheckMs = 1_000;

/**
 * Tries to forward a request to an object's primary. Each failed try
 * declares the primary dead or not (peerFailed) and asks the ring again,
 * so 3 reach the third owner in line.
 */
export const forwardAttemptsMax = 3;

/**
 * How soon after a ring change a repair pass starts: changes come in
 * bursts (a join announces itself to every member), and a short delay
 * lets one pass cover the burst.
 */
export const repairDelayMs = 50;

/**
 * Inputs of waiting jobs the readiness sweep looks up at once (on their
 * owners): enough to hide latency, few enough not to flood the peers.
 */
export const readinessLookupsConcurrency = 16;

/** Objects read per batch when INFO counts what a server holds: bounded memory, few queries. */
export const infoScanBatch = 10_000;

// ---------------------------------------------------------------------------
// Python sandbox (runner/sandbox/). Defaults for one job; a runner may pass
// smaller limits, and tests do.

/**
 * Wall-clock time of one job. A minute covers real batch work on one core and
 * still frees a runner slot quickly when a job hangs on a lock or a sleep.
 */
export const sandboxWallMs = 60_000;

/**
 * CPU time of one job's interpreter (RLIMIT_CPU, per process). Equal to the
 * wall limit: a single-threaded job cannot use more CPU than wall time, so the
 * CPU limit only bites on busy child processes.
 */
export const sandboxCpuSeconds = 60;

/**
 * Memory of one job. With bubblewrap, on top of what the interpreter uses
 * before the job starts: address space per process (RLIMIT_AS) and, where a
 * memory cgroup is available, all processes of the job together; with
 * Pyodide, all of its WebAssembly memory. 1 GiB lets a job hold a sizeable
 * input in memory while 16+ jobs fit on a 24 GiB runner.
 */
export const sandboxMemoryBytes = 1024 * 1024 * 1024;

/**
 * Processes and threads of one job (pids cgroup, or RLIMIT_NPROC when the
 * runner is not root). 64 allows a multiprocessing pool per core on large
 * machines and stops a fork bomb long before the host's pid table fills.
 */
export const sandboxProcesses = 64;

/**
 * Standard output of one job, which becomes its output file. It streams to
 * disk, so the bound protects disk and the ring's storage, not memory: 1 GiB
 * is a large result that still replicates in reasonable time.
 */
export const sandboxStdoutBytesMax = 1024 * 1024 * 1024;

/**
 * Standard error kept with a job (head and tail, a marker line between). It
 * is stored in the job record and travels base64-encoded (4/3 larger) in one
 * 64 KiB frame next to the job's other fields: 16 KiB becomes 21 848
 * characters, leaving two thirds of the frame for the rest.
 */
export const sandboxStderrBytesMax = 16 * 1024;

/**
 * Largest PyPy nursery (young generation) in a jail. PyPy would size it from
 * the CPU's cache (half of it: 240 MiB on a CPU with a 480 MiB L3) and
 * reserve it at start, which no small memory limit survives; 4 MiB is what
 * PyPy itself uses when it cannot read the cache size, and what the
 * sandbox's measurements were taken with. A job's nursery is 1/16 of its
 * memory limit up to this.
 */
export const pypyNurseryBytesMax = 4 * 1024 * 1024;

/** Smallest PyPy nursery in a jail: below this, minor collections dominate a job's time. */
export const pypyNurseryBytesMin = 512 * 1024;

/**
 * bubblewrap sandboxes started ahead of time (one interpreter each, blocked
 * until it receives one job, then discarded). Each idle one holds ~30 MiB
 * (PyPy) of memory; 4 hides the 15-40 ms start-up of back-to-back jobs on a
 * 2-core runner with `--jobs 2` and spare for bursts.
 */
export const bwrapWarmCount = 4;

/**
 * Bytes of a job's inputs the bubblewrap backend may copy into its staging
 * directory (a tmpfs, see runner/sandbox/net_staging.ts) when they cannot be
 * hard-linked there; they live in memory while the job runs. Copying 64 MiB
 * takes ~20 ms; a job with more runs in a jail started for it, its inputs
 * bound from the runner's cache (whose paths its mount table then shows).
 */
export const bwrapNetCopyBytesMax = 64 * 1024 * 1024;

/**
 * Bytes of copied inputs the bubblewrap backend keeps in its staging tmpfs
 * for later jobs that name the same file (a dataset every map job reads is
 * copied once, then hard-linked: copying costs ~0.7 ms per MB here). Held
 * in memory for the sandbox's life: four jobs' worth of copies.
 */
export const bwrapNetCacheBytesMax = 4 * bwrapNetCopyBytesMax;

/**
 * bubblewrap fork-mode jails (one zygote each) started with the sandbox. The
 * pool then grows to the number of jobs run at once, so this only hides the
 * ~100 ms start of a zygote from the first jobs: 2 covers a 2-core runner's
 * default `--jobs`. An idle jail (its zygote and the child forked ahead) holds
 * ~55 MiB (PSS) with PyPy, ~10 MiB with CPython.
 */
export const bwrapForkWarmCount = 2;

/**
 * Most fork-mode jails of one sandbox. The pool never holds more jails than
 * jobs ran at once, so this is the runner's largest `--jobs` (1024): a guard
 * against a runaway caller, not a tuning knob. Jobs beyond it wait for a jail.
 */
export const bwrapForkJailsMax = 1024;

/**
 * A fork-mode jail beyond the warm ones that has had no job for this long is
 * stopped: a runner that ran many jobs at once during a burst then waits
 * for work gives back ~55 MiB per PyPy jail. A minute covers the gaps
 * between the stages of a pipeline, where restarting a jail (~100 ms)
 * would show.
 */
export const bwrapForkIdleRetireMs = 60_000;

/**
 * How long a zygote may take to start or to fork its next child before the
 * jail is replaced. Both take milliseconds; 10 s leaves room for a 2-core
 * machine at load 15 starting several interpreters at once.
 */
export const bwrapZygoteReplyMs = 10_000;

/**
 * How long a zygote may take to kill and reap a job's processes after the
 * runner asked (wall clock, output limit, abort) before the whole jail is
 * killed instead. Reaping takes milliseconds, freeing a job's memory (up to
 * `sandboxMemoryBytes`) a little longer; 5 s covers a loaded machine.
 */
export const bwrapKillGraceMs = 5_000;

/**
 * Fork mode: a job that ends within this long has its output read in one
 * go after its end instead of streamed while it runs, which spares the
 * runner about ten trips through Deno's blocking-I/O threads per job (a
 * trivial job takes 1-3 ms). A job that prints more than its pipe holds
 * (64 KiB) before then waits at most this long for streaming to start.
 */
export const zygotePumpDelayMs = 20;

/**
 * Pyodide worker processes kept loaded ahead of time. Each idle one holds
 * ~200 MiB; starting one from the sandbox's memory snapshot costs ~0.4 s of
 * CPU. One hides that for an occasional job without doubling the runner's
 * memory; a runner with `--jobs N` on Pyodide may want N.
 */
export const pyodideWarmCount = 1;

/**
 * How long a client waits for a file or job to finish by default (get,
 * wait, the CLI's `--timeout`): ten minutes covers a long job and its
 * queue; scripts that expect longer say so.
 */
export const clientWaitMsDefault = 600_000;

/**
 * A client's WAIT is cut into requests of at most this long: a server that
 * dies during a wait is noticed (and the wait goes on through another) within
 * this time, at the cost of two requests a minute per waiting client.
 */
export const clientWaitSliceMs = 30_000;

/**
 * How much longer than its wait a WAIT's reply may take: the server may
 * forward it to the object's primary and fetch copies on the way
 * (`waitForwardSlackMs`), plus the trip back.
 */
export const clientWaitSlackMs = 15_000;

/**
 * Idle connections a client keeps per server (a transfer keeps
 * `chunksInFlight` instead): enough for a runner's lanes and a CLI's
 * requests without reconnecting for each one.
 */
export const clientIdleConnectionsMax = 8;

/**
 * Tries to store one chunk when its owner answers `unavailable` (it could
 * not reach its replica): the ring table is fetched again between tries, so
 * a third try goes to the owner that replaced a dead one.
 */
export const chunkStoreAttemptsMax = 3;

/**
 * Retries of a job report (UPD) that could not be delivered: the result
 * would otherwise be lost and the job run again after its lease. Five
 * retries with doubling waits from `reportRetryBaseMs` span about six
 * seconds, long enough for the ring to declare a dead server dead.
 */
export const reportRetriesMax = 5;

/** The first wait before retrying a job report; each retry waits twice as long. */
export const reportRetryBaseMs = 200;

/**
 * How long a runner waits for one input of a job to be fetched: an input
 * still incomplete (its job not finished) after this long gives the job
 * back rather than hold a lane.
 */
export const runnerInputFetchMs = 60_000;

/**
 * First pause of a runner that cannot take a job (a server does not answer);
 * the pause doubles up to `runnerIdleBackoffMsMax`.
 */
export const runnerIdleBackoffMsMin = 250;

/**
 * Reply limit of each server's INFO when `cloud client info --all` asks
 * them all: a server that does not answer within 10 s is listed with its
 * error rather than holding up the others.
 */
export const infoTimeoutMs = 10_000;

/**
 * Address space a Pyodide worker may add, beyond the job's `memoryBytes`,
 * to what it had reserved once loaded (~18 GiB here, most of it V8's
 * guard regions around WebAssembly memory). RLIMIT_AS bounds what
 * WebAssembly pages do not: JavaScript buffers a job allocates through
 * `import js`, and the inputs in Pyodide's in-memory file system. The
 * headroom covers V8's own growth during a job: the JS heap (256 MiB at
 * most, see pyodide.ts), code space and thread stacks.
 */
export const pyodideAddressSpaceHeadroomBytes = 512 * 1024 * 1024;

/**
 * Bytes of inputs a runner keeps on disk. Inputs are immutable, so a cache
 * saves refetching shared inputs (a dataset read by every map job); 2 GiB
 * fits a scratch disk and most working sets.
 */
export const runnerCacheBytesMax = 2 * 1024 ** 3;

/**
 * Longest pause between polls of a runner that found no ready job. Short
 * enough that a job becoming ready starts within a second; a waiting runner
 * costs a server one cheap request per second.
 */
export const runnerIdleBackoffMsMax = 1_000;

/**
 * Longest a GETJ may wait for a job to become ready (long poll). A runner
 * asks again after it; 30 s keeps an idle runner to two requests a minute
 * while staying far below the connection idle limit.
 */
export const jobWaitMsMax = 30_000;

/**
 * While a GETJ waits, how often the server asks its peers again: jobs that
 * become ready on another server are found within this long. Peers are
 * also asked at once when this server learns of a new or finished job.
 */
export const jobPollMs = 100;

/**
 * Long poll of a runner with `--watch`: how long one GETJ may wait for a
 * job. The server answers as soon as a job is ready, so this only bounds
 * how often an idle runner asks.
 */
export const runnerWatchPollMs = 10_000;

/**
 * Long poll of a runner that stops when no job is left: short, because the
 * runner learns that nothing is left only when the wait ends.
 */
export const runnerDrainPollMs = 250;

/**
 * Sandbox failures in a row after which a runner stops: its sandbox is
 * broken (the jobs were given back for healthy runners to take).
 */
export const runnerSandboxFailuresMax = 5;

// ---------------------------------------------------------------- integrity

/**
 * Most hashes one HOLD (a proof that a peer holds copies, before this
 * server drops its own) may name. Each proof costs the prover a SHA-256
 * over the copy (up to 45 KB inline, 32 KB for a manifest): 256 proofs are
 * about 11 MB of hashing, some tens of milliseconds; the reply (74 bytes an
 * entry, 19 KB) fits in one frame.
 */
export const holdEntriesMax = 256;

/**
 * Most leases one connection remembers for a runner of the original design
 * that sends UPD and RLSE without the lease token: the server fills in the
 * token it handed out on that connection. A runner holds one job per
 * connection at a time; 64 leaves room for pipelining and stays small.
 */
export const sessionLeasesMax = 64;

/**
 * Most a member's incarnation may rise in one record over what this server
 * knew of it (0 for a member not known yet): higher claims are cut to this
 * step. A member raises its own incarnation by one per start and per
 * refutation, a few times between two heartbeats at most; a record claiming
 * more (a dead declaration at 2^53 − 1) is a bug or an attack, and capped it
 * can always be refuted. A server that was away catches up by this much per
 * record it hears.
 */
export const incarnationStepMax = 64;

/**
 * How long a dead member stays in the members table after this server
 * learned of its death: long enough for every server to hear of it (a few
 * heartbeats) and for a member that was only cut off to come back and
 * refute. Then it is forgotten; a record of an unknown member that says
 * dead is ignored, so a forgotten member does not come back as dead (a
 * live one comes back by gossip or by joining).
 */
export const deadMemberKeepMs = 3_600_000;

/**
 * Largest MEMB request or reply this server sends, in payload bytes: one
 * frame (65 535) minus room for the command word. A member record is at most
 * about 2.6 KB (256 salts); a table larger than this is sent in turns
 * (this server first, then the others in rotation), never as a frame too
 * large to send.
 */
export const gossipBytesMax = 60_000;
// ---------------------------------------------------------------------------
// Observability: the HTTP side (dashboard, /metrics, /api), job listings,
// runners telling who they are, a running job's stderr.

/**
 * How long the HTTP side waits for a peer's answer (INFO, a listing) before
 * it shows that server as not answering: a dashboard that refreshes every
 * second must not hang on one dead server for the peers' 10 s timeout.
 */
export const httpFanoutTimeoutMs = 2_000;

/**
 * How old the object counts (owner, replica, bytes) may be that the
 * dashboard and /metrics show: counting scans the whole store, which a page
 * refreshing every second must not do each time. INFO without a maximum age
 * counts afresh.
 */
export const inspectionCountsMaxAgeMs = 5_000;

/**
 * Jobs a server keeps summaries of for listings (JOBS): every unfinished
 * job, and the most recent finished ones up to this many in all (a summary
 * is a few hundred bytes; older finished jobs stay stored, only unlisted).
 */
export const jobCatalogueMax = 50_000;

/** Jobs one JOBS page lists at most (and the CLI's and dashboard's default page). */
export const jobListingLimitMax = 200;

/** Jobs a JOBS page lists when the query says nothing. */
export const jobListingLimitDefault = 50;

/** Bytes of a job's failure detail in a listing (the job's own page has all of it). */
export const listingDetailBytesMax = 240;

/** Input hashes a listed job carries (its page has all of them). */
export const listingInputsMax = 8;

/** Characters of a text field of a runner's announcement (id, host, sandbox, version). */
export const runnerFieldCharsMax = 128;

/** Jobs one runner's announcement may list as held (its lanes, at most this). */
export const runnerJobsListedMax = 1024;

/**
 * Runners one server remembers: a bound against a client announcing made-up
 * runners; the one heard of longest ago is forgotten first.
 */
export const runnersMax = 10_000;

/** How often a runner tells its server who it is and which jobs it holds. */
export const runnerAnnounceMs = 2_000;

/**
 * A runner not heard of for this long is forgotten (it stopped or moved to
 * another server, which lists it).
 */
export const runnerForgetMs = 60_000;

/**
 * How often a runner sends the stderr of a running job so far (PROG), when
 * it changed: what `cloud client logs --follow` and the dashboard show
 * lags the job by about this much.
 */
export const runnerProgressMs = 1_000;

/**
 * Running jobs whose stderr so far a server keeps (their primary), at most
 * `stderrBytesMax` each: a bound of 80 MB against made-up reports.
 */
export const liveStderrJobsMax = 10_000;

/**
 * Members a server has not heard from (no request from it, no answer to
 * one) for this long, while it still counts them alive, are shown as
 * suspect on the dashboard: a few missed heartbeats.
 */
export const suspectAfterMs = 3_000;

/**
 * At most one log line per this many milliseconds for refused connections
 * (the rest are counted in the next line): a host opening thousands of
 * connections must not fill the server's log.
 */
export const refusedLogMs = 5_000;
