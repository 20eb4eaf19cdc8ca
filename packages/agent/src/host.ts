// Truthful facts about the host for the attestation and the provider record. Everything is read
// from the OS where it exists and falls back to what Node can tell; booleans for security
// features the host does not have (or that we cannot read) are false, never guessed true.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { arch, cpus, hostname, platform, release, totalmem, type } from "node:os";
import { join, relative } from "node:path";

export interface HostFacts {
  chip: string;
  hardwareModel: string;
  osVersion: string;
  cpuCores: number;
  ramGB: number;
  hostname: string;
  /** A stable per-machine identifier (machine-id); hashed with a salt before it leaves the host. */
  machineId: string;
  sipEnabled: boolean;
  secureBootEnabled: boolean;
  authenticatedRootEnabled: boolean;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 3000 });
  } catch {
    return undefined;
  }
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max);
}

function chipName(): string {
  const info = readText("/proc/cpuinfo");
  if (info) {
    for (const key of ["model name", "Model", "Hardware", "cpu model"]) {
      const m = new RegExp(`^${key}\\s*:\\s*(.+)$`, "m").exec(info);
      if (m?.[1]?.trim()) return m[1].trim();
    }
  }
  if (platform() === "darwin") {
    const brand = run("sysctl", ["-n", "machdep.cpu.brand_string"])?.trim();
    if (brand) return brand;
  }
  return cpus()[0]?.model?.trim() || `${arch()} CPU`;
}

function hardwareModel(): string {
  const product = readText("/sys/class/dmi/id/product_name")?.trim();
  if (product) return product;
  if (platform() === "darwin") {
    const model = run("sysctl", ["-n", "hw.model"])?.trim();
    if (model) return model;
  }
  return `${arch()} ${platform()}`;
}

function osVersion(): string {
  const osRelease = readText("/etc/os-release");
  const pretty = osRelease && /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1];
  if (pretty) return pretty;
  if (platform() === "darwin") {
    const v = run("sw_vers", ["-productVersion"])?.trim();
    if (v) return `macOS ${v}`;
  }
  return `${type()} ${release()}`;
}

function machineId(): string {
  for (const p of ["/etc/machine-id", "/var/lib/dbus/machine-id"]) {
    const id = readText(p)?.trim();
    if (id) return id;
  }
  if (platform() === "darwin") {
    const m = /"IOPlatformUUID" = "([^"]+)"/.exec(run("ioreg", ["-rd1", "-c", "IOPlatformExpertDevice"]) ?? "");
    if (m?.[1]) return m[1];
  }
  return hostname();
}

/** UEFI SecureBoot variable: 4 attribute bytes, then one data byte (1 = enabled). */
function secureBoot(): boolean {
  const dir = "/sys/firmware/efi/efivars";
  try {
    const name = readdirSync(dir).find((f) => f.startsWith("SecureBoot-"));
    if (!name) return false;
    const bytes = readFileSync(join(dir, name));
    return bytes.length >= 5 && bytes[4] === 1;
  } catch {
    return false;
  }
}

function darwinCsr(args: string[]): boolean {
  if (platform() !== "darwin") return false;
  const out = run("csrutil", args) ?? "";
  return /enabled/i.test(out) && !/disabled/i.test(out);
}

export function collectHostFacts(): HostFacts {
  return {
    chip: chipName(),
    hardwareModel: hardwareModel(),
    osVersion: osVersion(),
    cpuCores: Math.max(1, cpus().length),
    ramGB: Math.max(1, Math.round(totalmem() / 2 ** 30)),
    hostname: hostname(),
    machineId: machineId(),
    sipEnabled: darwinCsr(["status"]),
    secureBootEnabled: secureBoot(),
    authenticatedRootEnabled: darwinCsr(["authenticated-root", "status"]),
  };
}

export function serialNumberHash(salt: string, machineIdValue: string): string {
  return createHash("sha256").update(`${salt}:${machineIdValue}`, "utf8").digest("hex");
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p));
    else if (entry.isFile() && /\.(ts|js|mjs|json)$/.test(entry.name)) out.push(p);
  }
  return out;
}

/**
 * SHA-256 identifying the agent code that runs: over every source file of packages/agent/src
 * (relative path, NUL, content hash, newline), sorted by path so the result does not depend on
 * directory order. Any change to the agent's code changes it.
 */
export function agentBinaryHash(srcDir: string = new URL(".", import.meta.url).pathname): string {
  const h = createHash("sha256");
  for (const file of listFiles(srcDir).map((f) => relative(srcDir, f)).sort()) {
    const content = readFileSync(join(srcDir, file));
    h.update(`${file}\0${createHash("sha256").update(content).digest("hex")}\n`);
  }
  return h.digest("hex");
}

export const clip64 = (s: string): string => clip(s, 64);
export const clip128 = (s: string): string => clip(s, 128);
