// @cocore/console: the web console's server (the browser app is web/, built into dist/).
export { buildConsole, measureDist, JS_GZIP_BUDGET, type BuildReport } from "./build.ts";
export { startConsole, type ConsoleConfig, type RunningConsole } from "./server.ts";
export { CONSOLE_SCOPE } from "./oauth.ts";
export { consoleKeySession, isConsoleKeySession, type ConsoleKeySession } from "./key-session.ts";
