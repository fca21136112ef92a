// The benchmarks' corpus of TypeScript diagnostics (bench/vector_search.ts, bench/similar_search.ts): about 30
// error kinds from templates, each with varied identifiers, types, modules, literals and surrounding code,
// deterministic for a seed; with the text an error is embedded as (public.error_embedding_text) and pgvector's
// text form of a vector.
import { embed } from "../stack/embedding_model.ts";

// Deterministic generators ------------------------------------------------------------------------------------
/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rng = () => number;
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)];
const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

const NOUNS =
  `user order invoice product cart session config payment account customer item message event request
  response token profile address report task project team comment post file image price discount shipment
  review category tag setting route handler query result record entry schedule job queue worker cache client
  server store state action reducer component props theme locale metric log status count total amount limit
  page cursor filter sort timestamp date email phone title description url path key value node edge graph
  tenant invite subscription plan coupon balance ledger transfer refund webhook upload download batch chunk`
    .trim().split(/\s+/);
const SUFFIXES = [
  "",
  "Id",
  "Ids",
  "Name",
  "List",
  "Map",
  "Count",
  "Total",
  "Data",
  "Info",
  "Options",
  "Result",
  "Payload",
  "Handler",
  "Service",
  "Store",
  "Key",
  "Value",
  "At",
  "By",
  "Items",
  "Input",
  "Output",
  "Ref",
];
const VERBS =
  `get set load save fetch create update delete find parse format validate render handle build compute
  send read write apply merge sync resolve reset check map filter sort group`.trim().split(/\s+/);
const MODULES = [
  "./utils",
  "../lib/api",
  "@acme/sdk",
  "lodash-es",
  "date-fns",
  "zod",
  "./components/Button",
  "../types",
  "./hooks/useAuth",
  "@/services/http",
  "node:fs/promises",
  "./db/client",
  "../config/env",
  "@acme/ui",
  "rxjs",
  "./store",
  "../models",
];

function ident(rng: Rng): string {
  const noun = pick(rng, NOUNS);
  return rng() < 0.35 ? pick(rng, VERBS) + cap(noun) : noun + pick(rng, SUFFIXES);
}
function typeName(rng: Rng): string {
  return cap(pick(rng, NOUNS)) +
    (rng() < 0.5
      ? pick(rng, ["", "Item", "Info", "Data", "Options", "Response", "State", "Props", "Dto", "Record"])
      : "");
}
const PRIMS = [
  "string",
  "number",
  "boolean",
  "bigint",
  "Date",
  "RegExp",
  "string[]",
  "number[]",
  "unknown",
  "null",
  "undefined",
  "Record<string, number>",
  "Record<string, string>",
];
function typeExpr(rng: Rng, depth = 0): string {
  const r = rng();
  if (depth > 1 || r < 0.45) return pick(rng, PRIMS);
  if (r < 0.65) return typeName(rng);
  const inner = typeExpr(rng, depth + 1);
  return pick(rng, [
    `${inner}[]`,
    `Promise<${inner}>`,
    `${inner} | undefined`,
    `${inner} | null`,
    `Map<string, ${inner}>`,
    `Set<${inner}>`,
    `Partial<${typeName(rng)}>`,
    `Readonly<${typeName(rng)}>`,
    `Array<${inner}>`,
  ]);
}
function literalOf(rng: Rng, type: string): string {
  if (type.startsWith("string")) return JSON.stringify(pick(rng, NOUNS) + Math.floor(rng() * 100));
  if (type.startsWith("number")) return String(Math.floor(rng() * 10_000));
  if (type === "boolean") return rng() < 0.5 ? "true" : "false";
  if (type === "bigint") return `${Math.floor(rng() * 1000)}n`;
  if (type === "Date") return "new Date()";
  if (type === "null") return "null";
  if (type === "undefined") return "undefined";
  if (type.endsWith("[]")) return "[]";
  return `{ ${ident(rng)}: ${Math.floor(rng() * 100)} }`;
}
/** A different type than `a` (for mismatches). */
function otherType(rng: Rng, a: string): string {
  for (;;) {
    const b = typeExpr(rng);
    if (b !== a) return b;
  }
}
function contextLine(rng: Rng): string {
  const v = ident(rng), T = typeName(rng);
  return pick(rng, [
    `import { ${ident(rng)} } from "${pick(rng, MODULES)}";`,
    `const ${v} = await ${pick(rng, VERBS)}${T}(${ident(rng)});`,
    `export type ${T}List = ${T}[];`,
    `logger.info("${pick(rng, VERBS)} ${pick(rng, NOUNS)}", { ${ident(rng)} });`,
    `let ${v}: ${typeExpr(rng)} | undefined;`,
    `// TODO: ${pick(rng, VERBS)} the ${pick(rng, NOUNS)} before ${pick(rng, VERBS)}ing`,
    `if (!${v}) throw new Error("${pick(rng, NOUNS)} not found");`,
    `export const ${v}Schema = z.object({ ${ident(rng)}: z.string() });`,
  ]);
}

export interface Diagnostic {
  code: string;
  message: string;
  snippet: string;
  fix: string;
}

// Each template: one kind of TypeScript error, with the fix. Identifiers, types and context vary.
const TEMPLATES: Array<(rng: Rng) => Diagnostic> = [
  (rng) => { // TS2322 literal of the wrong type
    const v = ident(rng), A = typeExpr(rng), B = otherType(rng, A);
    return {
      code: "TS2322",
      message: `Type '${B}' is not assignable to type '${A}'.`,
      snippet: `const ${v}: ${A} = ${literalOf(rng, B)};`,
      fix: `const ${v}: ${A} = ${literalOf(rng, A)};`,
    };
  },
  (rng) => { // TS2322 return type
    const f = pick(rng, VERBS) + typeName(rng), p = ident(rng), T = typeName(rng), prop = ident(rng);
    const A = typeExpr(rng), B = otherType(rng, A);
    return {
      code: "TS2322",
      message: `Type '${B}' is not assignable to type '${A}'.`,
      snippet: `function ${f}(${p}: ${T}): ${A} {\n  return ${p}.${prop};\n}`,
      fix: `function ${f}(${p}: ${T}): ${B} {\n  return ${p}.${prop};\n}`,
    };
  },
  (rng) => { // TS2339 property does not exist
    const T = typeName(rng),
      a = ident(rng),
      b = ident(rng),
      c = ident(rng),
      x = ident(rng),
      f = pick(rng, VERBS) + T;
    return {
      code: "TS2339",
      message: `Property '${c}' does not exist on type '${T}'.`,
      snippet: `interface ${T} {\n  ${a}: ${typeExpr(rng)};\n  ${b}: ${
        typeExpr(rng)
      };\n}\nfunction ${f}(${x}: ${T}) {\n  return ${x}.${c};\n}`,
      fix: `function ${f}(${x}: ${T}) {\n  return ${x}.${a};\n}`,
    };
  },
  (rng) => { // TS2551 did you mean
    const T = typeName(rng), a = ident(rng), x = ident(rng);
    const typo = a.length > 3 ? a.slice(0, -2) + a.slice(-1) + a.slice(-2, -1) : a + "s";
    return {
      code: "TS2551",
      message: `Property '${typo}' does not exist on type '${T}'. Did you mean '${a}'?`,
      snippet: `declare const ${x}: ${T};\nconsole.log(${x}.${typo});`,
      fix: `declare const ${x}: ${T};\nconsole.log(${x}.${a});`,
    };
  },
  (rng) => { // TS2345 argument type
    const f = pick(rng, VERBS) + typeName(rng), p = ident(rng), A = typeExpr(rng), B = otherType(rng, A);
    return {
      code: "TS2345",
      message: `Argument of type '${B}' is not assignable to parameter of type '${A}'.`,
      snippet: `function ${f}(${p}: ${A}) {\n  return ${p};\n}\n${f}(${literalOf(rng, B)});`,
      fix: `${f}(${literalOf(rng, A)});`,
    };
  },
  (rng) => { // TS2304 cannot find name
    const v = ident(rng), name = pick(rng, VERBS) + typeName(rng), m = pick(rng, MODULES);
    return {
      code: "TS2304",
      message: `Cannot find name '${name}'.`,
      snippet: `const ${v} = ${name}(${ident(rng)});`,
      fix: `import { ${name} } from "${m}";\nconst ${v} = ${name}(${ident(rng)});`,
    };
  },
  (rng) => { // TS2307 cannot find module
    const m = rng() < 0.5 ? pick(rng, MODULES) : `./${pick(rng, NOUNS)}s/${pick(rng, NOUNS)}.service`;
    const name = ident(rng);
    return {
      code: "TS2307",
      message: `Cannot find module '${m}' or its corresponding type declarations.`,
      snippet: `import { ${name} } from "${m}";`,
      fix: `import { ${name} } from "${m}.ts";`,
    };
  },
  (rng) => { // TS7006 implicit any
    const f = pick(rng, VERBS) + typeName(rng), p = ident(rng), prop = ident(rng), T = typeName(rng);
    return {
      code: "TS7006",
      message: `Parameter '${p}' implicitly has an 'any' type.`,
      snippet: `export function ${f}(${p}) {\n  return ${p}.${prop};\n}`,
      fix: `export function ${f}(${p}: ${T}) {\n  return ${p}.${prop};\n}`,
    };
  },
  (rng) => { // TS18048 possibly undefined
    const v = ident(rng), map = ident(rng), key = ident(rng), prop = ident(rng);
    return {
      code: "TS18048",
      message: `'${v}' is possibly 'undefined'.`,
      snippet: `const ${v} = ${map}.get(${key});\nconsole.log(${v}.${prop});`,
      fix: `const ${v} = ${map}.get(${key});\nconsole.log(${v}?.${prop});`,
    };
  },
  (rng) => { // TS18047 possibly null
    const el = ident(rng), id = pick(rng, NOUNS);
    return {
      code: "TS18047",
      message: `'${el}' is possibly 'null'.`,
      snippet: `const ${el} = document.querySelector("#${id}");\n${el}.textContent = ${
        JSON.stringify(pick(rng, NOUNS))
      };`,
      fix: `const ${el} = document.querySelector("#${id}");\nif (${el}) ${el}.textContent = ${
        JSON.stringify(pick(rng, NOUNS))
      };`,
    };
  },
  (rng) => { // TS2532 object possibly undefined
    const v = ident(rng), T = typeName(rng), prop = ident(rng);
    return {
      code: "TS2532",
      message: `Object is possibly 'undefined'.`,
      snippet: `function ${pick(rng, VERBS)}(${v}?: ${T}) {\n  return ${v}.${prop}.length;\n}`,
      fix: `function ${pick(rng, VERBS)}(${v}?: ${T}) {\n  return ${v}?.${prop}?.length ?? 0;\n}`,
    };
  },
  (rng) => { // TS2554 argument count
    const f = pick(rng, VERBS) + typeName(rng),
      a = ident(rng),
      b = ident(rng),
      A = typeExpr(rng),
      B = typeExpr(rng);
    return {
      code: "TS2554",
      message: `Expected 2 arguments, but got 1.`,
      snippet: `function ${f}(${a}: ${A}, ${b}: ${B}) {}\n${f}(${literalOf(rng, A)});`,
      fix: `${f}(${literalOf(rng, A)}, ${literalOf(rng, B)});`,
    };
  },
  (rng) => { // TS2741 missing property
    const T = typeName(rng),
      a = ident(rng),
      b = ident(rng),
      A = typeExpr(rng),
      B = typeExpr(rng),
      v = ident(rng);
    return {
      code: "TS2741",
      message: `Property '${b}' is missing in type '{ ${a}: ${A}; }' but required in type '${T}'.`,
      snippet: `interface ${T} {\n  ${a}: ${A};\n  ${b}: ${B};\n}\nconst ${v}: ${T} = { ${a}: ${
        literalOf(rng, A)
      } };`,
      fix: `const ${v}: ${T} = { ${a}: ${literalOf(rng, A)}, ${b}: ${literalOf(rng, B)} };`,
    };
  },
  (rng) => { // TS2353 excess property
    const T = typeName(rng), a = ident(rng), c = ident(rng), A = typeExpr(rng), v = ident(rng);
    return {
      code: "TS2353",
      message: `Object literal may only specify known properties, and '${c}' does not exist in type '${T}'.`,
      snippet: `type ${T} = { ${a}: ${A} };\nconst ${v}: ${T} = { ${a}: ${literalOf(rng, A)}, ${c}: ${
        literalOf(rng, "string")
      } };`,
      fix: `const ${v}: ${T} = { ${a}: ${literalOf(rng, A)} };`,
    };
  },
  (rng) => { // TS7053 implicit any index
    const T = typeName(rng), v = ident(rng), obj = ident(rng), key = ident(rng);
    return {
      code: "TS7053",
      message:
        `Element implicitly has an 'any' type because expression of type 'string' can't be used to index type '${T}'.`,
      snippet: `declare const ${obj}: ${T};\nconst ${key}: string = "${
        pick(rng, NOUNS)
      }";\nconst ${v} = ${obj}[${key}];`,
      fix: `const ${v} = ${obj}[${key} as keyof ${T}];`,
    };
  },
  (rng) => { // TS2367 no overlap
    const v = ident(rng), A = pick(rng, PRIMS), B = otherType(rng, A);
    return {
      code: "TS2367",
      message:
        `This comparison appears to be unintentional because the types '${A}' and '${B}' have no overlap.`,
      snippet: `declare const ${v}: ${A};\nif (${v} === ${literalOf(rng, B)}) {\n  ${pick(rng, VERBS)}();\n}`,
      fix: `if (${v} === ${literalOf(rng, A)}) {\n  ${pick(rng, VERBS)}();\n}`,
    };
  },
  (rng) => { // TS2564 no initializer
    const C = typeName(rng) + pick(rng, ["Service", "Store", "Controller", "Repository", "Client"]),
      p = ident(rng),
      A = typeExpr(rng);
    return {
      code: "TS2564",
      message: `Property '${p}' has no initializer and is not definitely assigned in the constructor.`,
      snippet: `export class ${C} {\n  ${p}: ${A};\n}`,
      fix: `export class ${C} {\n  ${p}: ${A} = ${literalOf(rng, A)};\n}`,
    };
  },
  (rng) => { // TS2448 used before declaration
    const v = ident(rng), w = ident(rng);
    return {
      code: "TS2448",
      message: `Block-scoped variable '${v}' used before its declaration.`,
      snippet: `const ${w} = ${v} + 1;\nconst ${v} = ${Math.floor(rng() * 100)};`,
      fix: `const ${v} = ${Math.floor(rng() * 100)};\nconst ${w} = ${v} + 1;`,
    };
  },
  (rng) => { // TS2588 assign to const
    const v = ident(rng), A = pick(rng, ["number", "string", "boolean"]);
    return {
      code: "TS2588",
      message: `Cannot assign to '${v}' because it is a constant.`,
      snippet: `const ${v} = ${literalOf(rng, A)};\n${v} = ${literalOf(rng, A)};`,
      fix: `let ${v} = ${literalOf(rng, A)};\n${v} = ${literalOf(rng, A)};`,
    };
  },
  (rng) => { // TS18046 unknown in catch
    const e = pick(rng, ["e", "err", "error", "cause", "reason"]), f = pick(rng, VERBS) + typeName(rng);
    return {
      code: "TS18046",
      message: `'${e}' is of type 'unknown'.`,
      snippet: `try {\n  await ${f}();\n} catch (${e}) {\n  console.error(${e}.message);\n}`,
      fix:
        `try {\n  await ${f}();\n} catch (${e}) {\n  console.error(${e} instanceof Error ? ${e}.message : String(${e}));\n}`,
    };
  },
  (rng) => { // TS2365 operator
    const a = ident(rng),
      b = ident(rng),
      A = pick(rng, PRIMS),
      B = otherType(rng, A),
      op = pick(rng, ["+", "-", "*", "<", ">"]);
    return {
      code: "TS2365",
      message: `Operator '${op}' cannot be applied to types '${A}' and '${B}'.`,
      snippet: `declare const ${a}: ${A};\ndeclare const ${b}: ${B};\nconst ${ident(rng)} = ${a} ${op} ${b};`,
      fix: `const ${ident(rng)} = Number(${a}) ${op} Number(${b});`,
    };
  },
  (rng) => { // TS2355 must return a value
    const f = pick(rng, VERBS) + typeName(rng), A = typeExpr(rng), v = ident(rng);
    return {
      code: "TS2355",
      message:
        `A function whose declared type is neither 'undefined', 'void', nor 'any' must return a value.`,
      snippet: `function ${f}(${v}: string): ${A} {\n  console.log(${v});\n}`,
      fix: `function ${f}(${v}: string): void {\n  console.log(${v});\n}`,
    };
  },
  (rng) => { // TS1005 syntax
    const ch = pick(rng, ["';'", "')'", "','", "'}'", "'=>'"]), v = ident(rng);
    return {
      code: "TS1005",
      message: `${ch} expected.`,
      snippet: `const ${v} = ${pick(rng, VERBS)}(${ident(rng)}, ${ident(rng)}\nexport default ${v};`,
      fix: `const ${v} = ${pick(rng, VERBS)}(${ident(rng)}, ${ident(rng)});\nexport default ${v};`,
    };
  },
  (rng) => { // TS2540 read-only
    const T = typeName(rng), p = ident(rng), v = ident(rng), A = pick(rng, ["number", "string", "boolean"]);
    return {
      code: "TS2540",
      message: `Cannot assign to '${p}' because it is a read-only property.`,
      snippet: `interface ${T} {\n  readonly ${p}: ${A};\n}\ndeclare const ${v}: ${T};\n${v}.${p} = ${
        literalOf(rng, A)
      };`,
      fix: `const ${ident(rng)}: ${T} = { ...${v}, ${p}: ${literalOf(rng, A)} };`,
    };
  },
  (rng) => { // TS2693 type used as value
    const T = typeName(rng), v = ident(rng);
    return {
      code: "TS2693",
      message: `'${T}' only refers to a type, but is being used as a value here.`,
      snippet: `type ${T} = { ${ident(rng)}: string };\nconst ${v} = new ${T}();`,
      fix: `type ${T} = { ${ident(rng)}: string };\nconst ${v}: ${T} = { ${ident(rng)}: "" };`,
    };
  },
  (rng) => { // TS2349 not callable
    const T = typeName(rng), v = ident(rng);
    return {
      code: "TS2349",
      message: `This expression is not callable.\n  Type '${T}' has no call signatures.`,
      snippet: `declare const ${v}: ${T};\n${v}();`,
      fix: `declare const ${v}: () => ${T};\n${v}();`,
    };
  },
  (rng) => { // TS2769 no overload
    const arr = ident(rng), A = pick(rng, ["string", "number"]), B = A === "string" ? "number" : "string";
    return {
      code: "TS2769",
      message:
        `No overload matches this call.\n  Overload 1 of 3, '(callbackfn: (previousValue: ${A}, currentValue: ${A}) => ${A}): ${A}', gave the following error.\n    Argument of type '(acc: ${B}, x: ${A}) => ${B}' is not assignable to parameter of type '(previousValue: ${A}, currentValue: ${A}) => ${A}'.`,
      snippet: `declare const ${arr}: ${A}[];\nconst ${
        ident(rng)
      } = ${arr}.reduce((acc: ${B}, x) => acc + x);`,
      fix: `const ${ident(rng)} = ${arr}.reduce((acc: ${B}, x) => acc + x, ${literalOf(rng, B)});`,
    };
  },
  (rng) => { // TS2740 missing many properties
    const A = typeName(rng), B = typeName(rng), v = ident(rng);
    const props = [ident(rng), ident(rng), ident(rng)];
    return {
      code: "TS2740",
      message: `Type '${A}' is missing the following properties from type '${B}': ${props.join(", ")}`,
      snippet: `declare const ${ident(rng)}: ${A};\nconst ${v}: ${B} = ${ident(rng)};`,
      fix: `const ${v}: ${B} = { ...${ident(rng)}, ${props.map((p) => `${p}: undefined`).join(", ")} };`,
    };
  },
  (rng) => { // TS2451 redeclare
    const v = ident(rng);
    return {
      code: "TS2451",
      message: `Cannot redeclare block-scoped variable '${v}'.`,
      snippet: `let ${v} = ${literalOf(rng, "number")};\nlet ${v} = ${literalOf(rng, "number")};`,
      fix: `let ${v} = ${literalOf(rng, "number")};\n${v} = ${literalOf(rng, "number")};`,
    };
  },
];

/** One generated diagnostic with 0–3 lines of surrounding code. */
export function diagnostic(rng: Rng): Diagnostic & { file: string } {
  const d = pick(rng, TEMPLATES)(rng);
  const before = Array.from({ length: Math.floor(rng() * 3) }, () => contextLine(rng));
  const after = Array.from({ length: Math.floor(rng() * 2) }, () => contextLine(rng));
  const file = `src/${pick(rng, NOUNS)}s/${pick(rng, VERBS)}${cap(pick(rng, NOUNS))}.ts`;
  return { ...d, file, snippet: [...before, d.snippet, ...after].join("\n") };
}

/** What public.error_embedding_text(code, message, snippet) returns: "<code> <message>\n<snippet>". */
export const errorText = (d: Diagnostic) => `${d.code} ${d.message}\n${d.snippet}`;

export function randomUnitVector(rng: Rng): number[] {
  const v = new Array<number>(384);
  let norm = 0;
  for (let i = 0; i < 384; i += 2) { // Box–Muller: Gaussian coordinates, then normalised: uniform on the sphere
    const r = Math.sqrt(-2 * Math.log(1 - rng())), t = 2 * Math.PI * rng();
    v[i] = r * Math.cos(t);
    v[i + 1] = r * Math.sin(t);
    norm += v[i] ** 2 + v[i + 1] ** 2;
  }
  norm = Math.sqrt(norm);
  return v.map((x) => x / norm);
}

// float32 values need 9 significant digits to round-trip through pgvector's text input.
export const vectorText = (v: ArrayLike<number>) =>
  "[" + Array.from(v, (x) => Number(x.toPrecision(9))).join(",") + "]";

/** The vectors of `texts` in pgvector's text form, embedded `batch` texts at a time with the stack's model. */
export async function embedAsText(texts: string[], batch: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < texts.length; i += batch) {
    for (const v of await embed(texts.slice(i, i + batch))) out.push(vectorText(v));
  }
  return out;
}

/** A value in COPY's text format (`\\N` for null). */
export const copyText = (s: string | null) =>
  s === null
    ? "\\N"
    : s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
