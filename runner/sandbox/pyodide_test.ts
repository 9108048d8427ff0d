import { createPyodideSandbox } from "./pyodide.ts";
import { runHostileSuite } from "./hostile_suite.ts";
import { runSandboxSuite } from "./sandbox_suite.ts";

runSandboxSuite("pyodide", (limits) => createPyodideSandbox({ limits, warm: 3 }));
runHostileSuite("pyodide", (limits) => createPyodideSandbox({ limits, warm: 3 }));
