// Broken snippets for the retrieval benchmark (bench/retrieval.ts): 24 error codes, 3+ variants each, written
// for this benchmark — none is a knowledge-base entry (tools/knowledge-base/entries.ts), so retrieval has to
// find a fix of the same error in different code. The compiler's real message is not stored here: the
// benchmark compiles each snippet with diagnoseSnippet and takes the message of the diagnostic with the code.
//
// Run on its own, it checks every case: `deno run -A bench/_retrieval_cases.ts`.
import { diagnoseSnippet } from "../supabase/functions/_shared/typescript.ts";

export interface RetrievalCase {
  /** The diagnostic the snippet must produce. */
  code: string;
  snippet: string;
}

const cases: Record<string, string[]> = {
  TS2322: [
    `export const port: number = "8080";`,
    `export function isReady(): boolean {\n  return "yes";\n}`,
    `type Mode = "light" | "dark";\nexport const mode: Mode = "blue";`,
  ],
  TS2339: [
    `export function size(list: string[]) {\n  return list.count;\n}`,
    `const config = { host: "localhost" };\nexport const port = config.port;`,
    `export function shout(value: number) {\n  return value.toUpperCase();\n}`,
  ],
  TS2345: [
    `function double(n: number) {\n  return n * 2;\n}\nexport const eight = double("4");`,
    `export const ids: number[] = [];\nids.push("7");`,
    `function label(text: string) {\n  return text.trim();\n}\nexport const l = label(42);`,
  ],
  TS2532: [
    `function find(): { id: number } | undefined {\n  return undefined;\n}\nexport const id = find().id;`,
    `export const first = [1, 2, 3].find((n) => n > 1).toFixed(2);`,
    `const cache = new Map<string, string[]>();\nexport const n = cache.get("k").length;`,
  ],
  TS18048: [
    `export function len(s?: string) {\n  return s.length;\n}`,
    `interface Cfg {\n  retries?: number;\n}\nexport function next(c: Cfg) {\n  return c.retries + 1;\n}`,
    `export function firstPositive(xs: number[]) {\n  const x = xs.find((v) => v > 0);\n  return x.toFixed(1);\n}`,
  ],
  TS7006: [
    `export function log(message) {\n  console.log(message);\n}`,
    `export const pick = function (a, b: number) {\n  return b;\n};`,
    `export class Box {\n  put(item) {\n    return item;\n  }\n}`,
  ],
  TS2304: [
    `export const now = moment();`,
    `export function parse(): Foo {\n  return JSON.parse("{}");\n}`,
    `export const total = prices.reduce((a: number, b: number) => a + b, 0);`,
  ],
  TS2307: [
    `import express from "express";\nexport const app = express();`,
    `import { helper } from "./utils/helper";\nexport const h = helper;`,
    `import { z } from "zod";\nexport const s = z.string();`,
  ],
  TS2554: [
    `function sum(a: number, b: number) {\n  return a + b;\n}\nexport const s = sum(1);`,
    `function hello() {\n  return "hi";\n}\nexport const h = hello("world");`,
    `class Point {\n  constructor(public x: number, public y: number) {}\n}\nexport const p = new Point(1);`,
  ],
  TS2741: [
    `interface Account {\n  id: number;\n  email: string;\n}\nexport const a: Account = { id: 1 };`,
    `type Point = { x: number; y: number };\nexport const origin: Point = { x: 0 };`,
    `interface Props {\n  title: string;\n  onClose: () => void;\n}\nexport function make(): Props {\n  return { title: "x" };\n}`,
  ],
  TS1005: [
    `export const list = [1, 2, 3;`,
    `export const obj = { a: 1 b: 2 };`,
    `export function g(a: number b: number) {\n  return a;\n}`,
  ],
  TS2366: [
    `export function sign(n: number): number {\n  if (n > 0) return 1;\n  else if (n < 0) return -1;\n}`,
    `export function pick(flag: boolean): string {\n  if (flag) {\n    return "a";\n  }\n}`,
    `export function rank(s: "a" | "b" | "c"): number {\n  switch (s) {\n    case "a":\n      return 1;\n    case "b":\n      return 2;\n  }\n}`,
  ],
  TS2769: [
    `export const parts = "a,b".split(1);`,
    `export const s = "abc".replace(/a/, 5);`,
    `export const joined = ["a", "b"].concat(1);`,
    `export const xs = Array.from(5);`,
  ],
  TS2551: [
    `export const s = "hello".toUppercase();`,
    `const person = { firstName: "Ada" };\nexport const f = person.firstname;`,
    `export const count = [1, 2].lenght;`,
  ],
  TS2552: [
    `export const x = Mathh.floor(1.5);`,
    `const counter = 1;\nexport const y = countr + 1;`,
    `export function count(items: string[]) {\n  return itemz.length;\n}`,
  ],
  TS2353: [
    `interface Options {\n  verbose: boolean;\n}\nexport const o: Options = { verbose: true, color: "red" };`,
    `function make(p: { x: number }) {\n  return p;\n}\nexport const r = make({ x: 1, y: 2 });`,
    `type Db = { host: string };\nexport const db: Db = { host: "h", prot: 5 };`,
  ],
  TS2531: [
    `export const html = document.getElementById("app").innerHTML;`,
    `export const at = "abc".match(/b/).index;`,
    `export const text = document.querySelector("input").value;`,
  ],
  TS2564: [
    `export class Account {\n  balance: number;\n}`,
    `export class Service {\n  private url: string;\n  constructor() {}\n}`,
    `export class ListNode {\n  next: ListNode;\n  value = 0;\n}`,
  ],
  TS2454: [
    `export function f(flag: boolean) {\n  let v: string;\n  if (flag) v = "x";\n  return v;\n}`,
    `export function g() {\n  let total: number;\n  total += 1;\n  return total;\n}`,
    `export function last(xs: number[]) {\n  let end: number;\n  for (const x of xs) end = x;\n  return end;\n}`,
  ],
  TS2355: [
    `export function id(): number {}`,
    `export function title(): string {\n  console.log("x");\n}`,
    `export const ok = function (): boolean {};`,
  ],
  TS2367: [
    `export function isC(s: "a" | "b") {\n  return s === "c";\n}`,
    `export function isOne(n: number) {\n  return n === "1";\n}`,
    `export function on(flag: boolean) {\n  return flag == "true";\n}`,
  ],
  TS2588: [
    `const max = 1;\nmax = 2;\nexport {};`,
    `export function f() {\n  const i = 0;\n  i++;\n  return i;\n}`,
    `for (const k of [1, 2]) {\n  k = 3;\n}\nexport {};`,
  ],
  TS18047: [
    `export function f(s: string | null) {\n  return s.length;\n}`,
    `export function focus(el: HTMLElement | null) {\n  el.focus();\n}`,
    `export function whole(m: RegExpMatchArray | null) {\n  return m.index;\n}`,
  ],
  TS7053: [
    `const colors = { red: "#f00" };\nexport function color(k: string) {\n  return colors[k];\n}`,
    `export function get(o: { a: number }, key: string) {\n  return o[key];\n}`,
    `const m = { x: 1 };\nexport const v = m["y"];`,
  ],
};

export const CASES: RetrievalCase[] = Object.entries(cases).flatMap(([code, snippets]) =>
  snippets.map((snippet) => ({ code, snippet: `${snippet}\n` }))
);

if (import.meta.main) {
  let bad = 0;
  for (const c of CASES) {
    const found = diagnoseSnippet(c.snippet).find((d) => d.code === c.code);
    if (!found) {
      bad++;
      const got = diagnoseSnippet(c.snippet).map((d) => d.code).join(", ") || "nothing";
      console.log(`✘ ${c.code} not produced (got ${got}):\n${c.snippet}`);
    }
  }
  const codes = new Set(CASES.map((c) => c.code));
  console.log(
    `${CASES.length - bad}/${CASES.length} cases produce their code; ${codes.size} distinct codes.`,
  );
}
