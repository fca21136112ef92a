// The gateway's processes per function (GatewayOptions.processesPerFunction, LOCAL_STACK_FUNCTION_PROCESSES) and its
// CPU time per request, on the fixture project (tests/fixtures/gateway): hosted runs many isolates of a busy
// function, so a function whose process is busy gets another one, up to the setting, each with its own execution
// id and temp folder; by default one. Each request's log line carries the CPU time its process spent on it — its
// share when requests overlap — from a response header the gateway keeps to itself.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../stack/config.ts";
import { functionProcessesFromEnv } from "../stack/config.ts";
import { type ExtraGateway, startExtraGateway } from "../stack/attach.ts";
import { CPU_HEADER } from "../stack/runtime/edge_runtime.ts";
import { eventually } from "./_stack.ts";

const FIXTURE = join(ROOT, "tests", "fixtures", "gateway", "supabase");

interface Seen {
  pid: number;
  execution: string;
  tmp: string;
}

async function busy(gateway: ExtraGateway, path = "busy?ms=300"): Promise<Seen> {
  const response = await fetch(`${gateway.url}/functions/v1/${path}`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get(CPU_HEADER), null, "the CPU header never reaches the caller");
  return await response.json();
}

/** `n` requests at once. */
const burst = (gateway: ExtraGateway, n: number, path?: string) =>
  Promise.all(Array.from({ length: n }, () => busy(gateway, path)));

Deno.test({
  name: "gateway: processes per function",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await t.step("LOCAL_STACK_FUNCTION_PROCESSES is read as a count, and refused when it is not one", () => {
      const saved = Deno.env.get("LOCAL_STACK_FUNCTION_PROCESSES");
      try {
        Deno.env.set("LOCAL_STACK_FUNCTION_PROCESSES", "2");
        assert.equal(functionProcessesFromEnv(), 2);
        for (const bad of ["0", "-1", "1.5", "two", "65"]) {
          Deno.env.set("LOCAL_STACK_FUNCTION_PROCESSES", bad);
          assert.throws(
            () => functionProcessesFromEnv(),
            /LOCAL_STACK_FUNCTION_PROCESSES must be an integer/,
          );
        }
        Deno.env.delete("LOCAL_STACK_FUNCTION_PROCESSES");
        assert.equal(functionProcessesFromEnv(), undefined);
      } finally {
        if (saved === undefined) Deno.env.delete("LOCAL_STACK_FUNCTION_PROCESSES");
        else Deno.env.set("LOCAL_STACK_FUNCTION_PROCESSES", saved);
      }
    });

    await t.step("by default one process serves a function, however many requests come at once", async () => {
      const gateway = startExtraGateway({}, { supabaseDir: FIXTURE, processesPerFunction: 1 });
      try {
        const seen = [...await burst(gateway, 6), ...await burst(gateway, 6)];
        assert.equal(new Set(seen.map((s) => s.pid)).size, 1);
        assert.equal(gateway.processCount("busy"), 1);
      } finally {
        await gateway.stop();
      }
    });

    await t.step(
      "with 2, a busy function gets a second process, never a third; each is an isolate of its own",
      async () => {
        const gateway = startExtraGateway({}, { supabaseDir: FIXTURE, processesPerFunction: 2 });
        try {
          const seen: Seen[] = [];
          for (let i = 0; i < 4; i++) seen.push(...await burst(gateway, 6));
          const pids = new Set(seen.map((s) => s.pid));
          assert.equal(pids.size, 2, `pids: ${[...pids].join(", ")}`);
          assert.equal(gateway.processCount("busy"), 2);
          const byPid = new Map(seen.map((s) => [s.pid, s]));
          const [a, b] = [...byPid.values()];
          assert.notEqual(a.execution, b.execution, "each process has its own SB_EXECUTION_ID");
          assert.notEqual(a.tmp, b.tmp, "and its own temp folder");
          // One at a time, an idle process takes each request: no third process for a quiet function either.
          for (let i = 0; i < 3; i++) await busy(gateway, "busy?ms=1");
          assert.equal(gateway.processCount("busy"), 2);
        } finally {
          await gateway.stop();
        }
      },
    );

    await t.step("processes that die are replaced by fresh ones", async () => {
      const gateway = startExtraGateway({}, { supabaseDir: FIXTURE, processesPerFunction: 2 });
      try {
        const before = new Set((await burst(gateway, 6)).map((s) => s.pid));
        for (const pid of before) Deno.kill(pid, "SIGKILL");
        await eventually(
          () => Promise.resolve(gateway.processCount("busy") === 0),
          "the dead processes to be noticed",
        );
        const after = await burst(gateway, 6);
        assert.ok(after.every((s) => !before.has(s.pid)), "fresh processes serve the next requests");
      } finally {
        await gateway.stop();
      }
    });

    await t.step(
      "each request's log line has the CPU time its process spent on it; overlapping requests share it",
      async () => {
        const gateway = startExtraGateway({}, { supabaseDir: FIXTURE, processesPerFunction: 1 });
        try {
          await busy(gateway, "busy?ms=1"); // the process is up
          const since = gateway.logs.length;
          await burst(gateway, 2, "busy/cpu?ms=300");
          const cpus = gateway.logs.slice(since)
            .map((line) => line.match(/GET \/functions\/v1\/busy\/cpu 200 \d+ms cpu (\d+)ms$/)?.[1])
            .filter((ms) => ms !== undefined).map(Number);
          assert.equal(cpus.length, 2, gateway.logs.slice(since).join("\n"));
          // Two requests of 300 ms of CPU each: their shares add up to at least about that much, each has some.
          assert.ok(cpus[0] + cpus[1] >= 500, `cpu ${cpus.join(" + ")} ms`);
          assert.ok(cpus.every((ms) => ms >= 100), `cpu ${cpus.join(", ")} ms`);
          // A response the function passes on from fetch() has headers nobody may change: it is still logged
          // with its CPU time, and arrives whole, without the header.
          const mark = gateway.logs.length;
          const passed = await busy(gateway, "busy/passed");
          assert.equal(typeof passed.pid, "number");
          assert.match(
            gateway.logs.slice(mark).join("\n"),
            /GET \/functions\/v1\/busy\/passed 200 \d+ms cpu \d+ms$/m,
          );
        } finally {
          await gateway.stop();
        }
      },
    );
  },
});
