// CPU time of the bench stack's processes, by group, from /proc (Linux): what one request costs the whole machine,
// not only the function. The groups: Postgres (the postmaster and its backends), the model runner, the functions'
// processes (started by gateways in this process), and this process (the benchmark's gateway, its HTTP clients
// and the fake LLM). Processes of other stacks and other users of the machine are left out; /proc/stat gives the
// machine's busy time beside it, to show how much else was running.
import { join } from "node:path";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

interface ProcessInfo {
  ppid: number;
  cmdline: string;
  /** utime + stime, ms. */
  cpuMs: number;
}

async function processes(): Promise<Map<number, ProcessInfo>> {
  const all = new Map<number, ProcessInfo>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).replaceAll("\0", " ");
      all.set(Number(entry.name), {
        ppid: Number(fields[1]),
        cmdline,
        cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND,
      });
    } catch { /* gone meanwhile */ }
  }
  return all;
}

function descendsFrom(all: Map<number, ProcessInfo>, pid: number, root: number): boolean {
  for (let p = pid, depth = 0; p > 1 && depth < 32; depth++) {
    if (p === root) return true;
    p = all.get(p)?.ppid ?? 0;
  }
  return false;
}

export type CpuGroups = Record<
  "postgres" | "model runner" | "functions" | "gateway + clients + fake LLM",
  number
>;

/** The CPU time (ms) each group of the bench stack has used so far, and the machine's busy time. */
export async function cpuSnapshot(): Promise<{ groups: CpuGroups; machineBusyMs: number }> {
  const all = await processes();
  const stateDir = Deno.env.get("STACK_STATE_DIR")!;
  const postmaster = Number(
    (await Deno.readTextFile(join(stateDir, "pg", "data", "postmaster.pid"))).split("\n")[0],
  );
  const groups: CpuGroups = {
    postgres: 0,
    "model runner": 0,
    functions: 0,
    "gateway + clients + fake LLM": 0,
  };
  for (const [pid, info] of all) {
    if (pid === Deno.pid) groups["gateway + clients + fake LLM"] += info.cpuMs;
    else if (descendsFrom(all, pid, postmaster)) groups.postgres += info.cpuMs;
    else if (info.ppid === Deno.ppid && info.cmdline.includes("model_runner.ts")) {
      groups["model runner"] += info.cpuMs;
    } else if (descendsFrom(all, pid, Deno.pid) && info.cmdline.includes("runtime/boot.ts")) {
      groups.functions += info.cpuMs;
    }
  }
  const [cpu] = (await Deno.readTextFile("/proc/stat")).split("\n");
  const t = cpu.split(/\s+/).slice(1).map(Number);
  const machineBusyMs = ((t[0] + t[1] + t[2] + t[5] + t[6] + t[7]) * 1000) / TICKS_PER_SECOND;
  return { groups, machineBusyMs };
}

/** CPU ms per request of each group between two snapshots; functions' processes that exited are not counted. */
export function cpuPerRequest(
  before: Awaited<ReturnType<typeof cpuSnapshot>>,
  after: Awaited<ReturnType<typeof cpuSnapshot>>,
  requests: number,
): { groups: CpuGroups; total: number; machineBusy: number } {
  const groups = {} as CpuGroups;
  let total = 0;
  for (const name of Object.keys(after.groups) as (keyof CpuGroups)[]) {
    groups[name] = Math.max(0, after.groups[name] - before.groups[name]) / requests;
    total += groups[name];
  }
  return { groups, total, machineBusy: (after.machineBusyMs - before.machineBusyMs) / requests };
}
