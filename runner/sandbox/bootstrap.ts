/**
 * The Python code that runs a job inside an interpreter, shared by the
 * backends, and the frame that delivers a job to a waiting interpreter. Pure.
 *
 * @module
 */

/**
 * Defines `_cloud_run(source) -> int` in `__main__`: it empties `__main__`,
 * runs the job's source there (so classes the job defines pickle as
 * `__main__.X`), prints an uncaught exception's traceback without the
 * bootstrap's frame, flushes, and returns the exit status (0, the status
 * given to `sys.exit`, or 1). Python 3.9+ (PyPy 3.9 is the oldest we use).
 */
export const pythonRunFunction = `
def _cloud_run(source):
    import sys
    main = sys.modules["__main__"].__dict__
    keep = ("__name__", "__builtins__", "__doc__", "__spec__", "__loader__", "__package__")
    for key in [k for k in main if k not in keep]:
        del main[key]
    sys.argv = ["job"]
    status = 0
    try:
        exec(compile(source, "<job>", "exec"), main)
    except SystemExit as stop:
        code = stop.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code & 0xFF
        else:
            try:
                print(code, file=sys.stderr)
            except BaseException:
                pass
            status = 1
    except BaseException as error:
        status = 1
        try:
            import traceback
            traceback.print_exception(type(error), error, error.__traceback__.tb_next)
        except BaseException:
            import os
            os.write(2, ("\\n" + type(error).__name__ + "\\n").encode())
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    return status
`;

/**
 * The start of every bubblewrap interpreter's `-c` program, the one-job
 * bootstrap's and the zygote's: closes every file descriptor but 0-2 (the
 * runner may have inherited some), sets `sys.path` to `sysPath` (the
 * interpreter runs with `-I -S`: no site import, no user or environment
 * paths; the probe recorded the paths jobs get, see `jail_python.ts`), and
 * defines `_cloud_run` ({@linkcode pythonRunFunction}). One line per element.
 */
export function pythonPrelude(sysPath: readonly string[]): string[] {
  return [
    "import os, sys",
    // Descriptors the runner inherited from its own parent must not reach the job.
    "for _fd in os.listdir('/proc/self/fd'):",
    "    if int(_fd) > 2:",
    "        try:",
    "            os.close(int(_fd))",
    "        except OSError:",
    "            pass",
    `sys.path[:] = ${JSON.stringify(sysPath)}`,
    pythonRunFunction,
  ];
}

/**
 * The whole `-c` program of a one-job bubblewrap interpreter: the
 * {@linkcode pythonPrelude}, then it blocks until one job frame arrives on
 * standard input, runs it and exits with its status.
 */
export function bwrapBootstrap(sysPath: readonly string[]): string {
  return [
    ...pythonPrelude(sysPath),
    "def _cloud_read():",
    "    stdin = sys.stdin.buffer",
    "    header = stdin.readline()",
    "    if not header:",
    "        raise SystemExit(0)",
    "    source = stdin.read(int(header))",
    "    return source",
    "raise SystemExit(_cloud_run(_cloud_read()))",
    "",
  ].join("\n");
}

const encoder = new TextEncoder();

/**
 * Encodes a job for a waiting bubblewrap interpreter: the decimal byte length
 * of the UTF-8 source, a newline, the source.
 */
export function encodeJobFrame(source: string): Uint8Array {
  const body = encoder.encode(source);
  const header = encoder.encode(`${body.length}\n`);
  const frame = new Uint8Array(header.length + body.length);
  frame.set(header, 0);
  frame.set(body, header.length);
  return frame;
}
