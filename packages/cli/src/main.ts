// The `cocore` command: each subcommand lives in its own module under ./commands so that
// components can add commands without touching a shared switch.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CliError, type Command } from "./command.ts";

const commandsDir = fileURLToPath(new URL("./commands/", import.meta.url));

function commandNames(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => f.endsWith(".ts"))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function loadCommand(name: string): Promise<Command | undefined> {
  if (!commandNames().includes(name)) return undefined;
  const mod = (await import(new URL(`./commands/${name}.ts`, import.meta.url).href)) as { command: Command };
  return mod.command;
}

async function usage(): Promise<string> {
  const lines = ["usage: cocore <command> [options]", "", "commands:"];
  for (const name of commandNames()) {
    const cmd = await loadCommand(name);
    if (cmd) lines.push(`  ${name.padEnd(12)} ${cmd.summary}`);
  }
  lines.push("", "Run `cocore <command> --help` for a command's options.");
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(await usage());
    return name ? 0 : 2;
  }
  if (name === "--version") {
    console.log("cocore 0.1.0");
    return 0;
  }
  const cmd = await loadCommand(name);
  if (!cmd) {
    console.error(`cocore: unknown command '${name}'\n\n${await usage()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(cmd.help);
    return 0;
  }
  return await cmd.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof CliError) {
    console.error(`cocore: ${err.message}`);
    process.exitCode = err.exitCode;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
}
