/**
 * The built-in knowledge base: common TypeScript diagnostics, each with a small broken
 * snippet and a real fix. Compiler messages are NOT stored here: `build.ts` compiles every
 * snippet with `diagnoseSnippet` and writes the exact messages into
 * `supabase/seed/knowledge_base.sql`.
 *
 * Rules (enforced by build.ts and tests/knowledge_base.test.ts):
 *   - `code` reports one or more diagnostics, all with `errorCode`;
 *   - `fix` compiles without any diagnostic and passes `verifyFix` (no any, no @ts-ignore …).
 * Snippets without import/export are scripts (global scope), as `tsc` treats them.
 */

export interface KnowledgeBaseEntry {
  /** Stable id, also `metadata.kb_id` and the natural key of the seeded row. */
  id: string;
  /** "TS2322" */
  errorCode: string;
  title: string;
  /** One sentence: why the fix works. */
  explanation: string;
  /** Broken snippet. */
  code: string;
  /** Fixed snippet. */
  fix: string;
}

/** Template tag: drops the first newline and the common indentation, ends with one newline. */
function src(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ""), "");
  const lines = text.replace(/^\n/, "").replace(/\s+$/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join("\n") + "\n";
}

export const ENTRIES: KnowledgeBaseEntry[] = [
  {
    id: "ts2322-string-literal-for-number",
    errorCode: "TS2322",
    title: "String given where the interface wants a number",
    explanation:
      'The id field is declared as number, so the literal must be the number 42, not the string "42".',
    code: src`
      interface User {
        id: number;
        name: string;
      }

      const user: User = { id: "42", name: "Ada" };
      console.log(user);
    `,
    fix: src`
      interface User {
        id: number;
        name: string;
      }

      const user: User = { id: 42, name: "Ada" };
      console.log(user);
    `,
  },
  {
    id: "ts2322-return-union-from-env",
    errorCode: "TS2322",
    title: "Returning a string-or-number value from a function declared to return number",
    explanation:
      "Environment values are strings, so the value is converted with Number() before it is returned as a number.",
    code: src`
      export function getPort(env: Record<string, string | undefined>): number {
        return env.PORT ?? 3000;
      }
    `,
    fix: src`
      export function getPort(env: Record<string, string | undefined>): number {
        return Number(env.PORT ?? 3000);
      }
    `,
  },
  {
    id: "ts2339-narrowed-union-member",
    errorCode: "TS2339",
    title: "Property of the other union member used after narrowing",
    explanation:
      "After the circle branch returns, shape is narrowed to the square variant, which has size instead of radius.",
    code: src`
      type Shape = { kind: "circle"; radius: number } | { kind: "square"; size: number };

      export function area(shape: Shape): number {
        if (shape.kind === "circle") return Math.PI * shape.radius ** 2;
        return shape.radius * shape.radius;
      }
    `,
    fix: src`
      type Shape = { kind: "circle"; radius: number } | { kind: "square"; size: number };

      export function area(shape: Shape): number {
        if (shape.kind === "circle") return Math.PI * shape.radius ** 2;
        return shape.size * shape.size;
      }
    `,
  },
  {
    id: "ts2339-empty-object-literal",
    errorCode: "TS2339",
    title: "Adding a property to an object typed as {}",
    explanation:
      "An empty literal is inferred as {}, so the object is given a type that declares the optional port property.",
    code: src`
      const settings = {};
      settings.port = 8080;
      console.log(settings);
    `,
    fix: src`
      const settings: { port?: number } = {};
      settings.port = 8080;
      console.log(settings);
    `,
  },
  {
    id: "ts2345-string-argument-for-number",
    errorCode: "TS2345",
    title: "Passing a string to a number parameter",
    explanation:
      "The parameter expects cents as a number, so the string input is converted with Number() at the call site.",
    code: src`
      function formatPrice(cents: number): string {
        return "$" + (cents / 100).toFixed(2);
      }

      const rawInput = "1999";
      console.log(formatPrice(rawInput));
    `,
    fix: src`
      function formatPrice(cents: number): string {
        return "$" + (cents / 100).toFixed(2);
      }

      const rawInput = "1999";
      console.log(formatPrice(Number(rawInput)));
    `,
  },
  {
    id: "ts2345-nullable-storage-value",
    errorCode: "TS2345",
    title: "Passing string | null to a function that needs a string",
    explanation:
      "localStorage.getItem returns null for a missing key, so a default string is supplied with ?? before parsing.",
    code: src`
      export function readCount(): number {
        return parseInt(localStorage.getItem("count"), 10);
      }
    `,
    fix: src`
      export function readCount(): number {
        return parseInt(localStorage.getItem("count") ?? "0", 10);
      }
    `,
  },
  {
    id: "ts2532-find-result-used-directly",
    errorCode: "TS2532",
    title: "Using the result of Array.find without checking it",
    explanation:
      "find returns undefined when nothing matches, so optional chaining with a fallback handles the missing user.",
    code: src`
      interface User {
        id: number;
        name: string;
      }

      export function userName(users: User[], id: number): string {
        return users.find((u) => u.id === id).name;
      }
    `,
    fix: src`
      interface User {
        id: number;
        name: string;
      }

      export function userName(users: User[], id: number): string {
        return users.find((u) => u.id === id)?.name ?? "unknown";
      }
    `,
  },
  {
    id: "ts18048-optional-option-in-arithmetic",
    errorCode: "TS18048",
    title: "Optional property used in arithmetic",
    explanation: "retries is optional, so a default of 3 is substituted with ?? before multiplying.",
    code: src`
      interface RetryOptions {
        retries?: number;
      }

      export function backoff(options: RetryOptions, attempt: number): number {
        return options.retries * attempt * 100;
      }
    `,
    fix: src`
      interface RetryOptions {
        retries?: number;
      }

      export function backoff(options: RetryOptions, attempt: number): number {
        return (options.retries ?? 3) * attempt * 100;
      }
    `,
  },
  {
    id: "ts18048-find-result-variable",
    errorCode: "TS18048",
    title: "Variable from Array.find used without a guard",
    explanation:
      "The early return handles the undefined case, so afterwards the variable is narrowed to Product.",
    code: src`
      interface Product {
        sku: string;
        price: number;
      }

      export function priceOf(products: Product[], sku: string): number {
        const product = products.find((p) => p.sku === sku);
        return product.price;
      }
    `,
    fix: src`
      interface Product {
        sku: string;
        price: number;
      }

      export function priceOf(products: Product[], sku: string): number {
        const product = products.find((p) => p.sku === sku);
        if (!product) throw new Error("Unknown SKU: " + sku);
        return product.price;
      }
    `,
  },
  {
    id: "ts18047-regexp-exec-null",
    errorCode: "TS18047",
    title: "RegExp exec result used without a null check",
    explanation:
      "exec returns null when the pattern does not match, so the match is checked before indexing it.",
    code: src`
      export function majorVersion(tag: string): number {
        const match = /^v(\d+)/.exec(tag);
        return Number(match[1]);
      }
    `,
    fix: src`
      export function majorVersion(tag: string): number {
        const match = /^v(\d+)/.exec(tag);
        if (match === null) return 0;
        return Number(match[1]);
      }
    `,
  },
  {
    id: "ts7006-untyped-parameter",
    errorCode: "TS7006",
    title: "Function parameter without a type under strict mode",
    explanation: "noImplicitAny requires parameter types, so the parameter is annotated as string.",
    code: src`
      export function greet(person) {
        return "Hello, " + person + "!";
      }
    `,
    fix: src`
      export function greet(person: string) {
        return "Hello, " + person + "!";
      }
    `,
  },
  {
    id: "ts7006-untyped-arrow-parameter",
    errorCode: "TS7006",
    title: "Arrow function parameter without a type",
    explanation:
      "A standalone arrow function has no contextual type, so its parameter needs an explicit number annotation.",
    code: src`
      export const double = (n) => n * 2;
    `,
    fix: src`
      export const double = (n: number) => n * 2;
    `,
  },
  {
    id: "ts2304-undeclared-constant",
    errorCode: "TS2304",
    title: "Using a constant that was never declared",
    explanation: "The constant is declared before use, so the name resolves.",
    code: src`
      export function toSeconds(ms: number): number {
        return Math.round(ms / MS_PER_SECOND);
      }
    `,
    fix: src`
      const MS_PER_SECOND = 1000;

      export function toSeconds(ms: number): number {
        return Math.round(ms / MS_PER_SECOND);
      }
    `,
  },
  {
    id: "ts2307-missing-uuid-package",
    errorCode: "TS2307",
    title: "Importing a package that is not installed",
    explanation:
      "The uuid package is not available, and the built-in Web Crypto crypto.randomUUID() provides the same v4 ids.",
    code: src`
      import { v4 as uuidv4 } from "uuid";

      export const newId = (): string => uuidv4();
    `,
    fix: src`
      export const newId = (): string => crypto.randomUUID();
    `,
  },
  {
    id: "ts2554-missing-argument",
    errorCode: "TS2554",
    title: "Calling a function with too few arguments",
    explanation: "createUser declares two required parameters, so the call passes the missing email.",
    code: src`
      function createUser(name: string, email: string) {
        return { name, email };
      }

      export const admin = createUser("Ada");
    `,
    fix: src`
      function createUser(name: string, email: string) {
        return { name, email };
      }

      export const admin = createUser("Ada", "ada@example.com");
    `,
  },
  {
    id: "ts2741-missing-required-property",
    errorCode: "TS2741",
    title: "Object literal missing one required property",
    explanation: "done is a required property of Todo, so the literal provides it.",
    code: src`
      interface Todo {
        id: number;
        title: string;
        done: boolean;
      }

      export const todo: Todo = { id: 1, title: "Write tests" };
    `,
    fix: src`
      interface Todo {
        id: number;
        title: string;
        done: boolean;
      }

      export const todo: Todo = { id: 1, title: "Write tests", done: false };
    `,
  },
  {
    id: "ts1005-missing-comma-in-object",
    errorCode: "TS1005",
    title: "Missing comma between object properties",
    explanation: "Properties in an object literal are separated by commas.",
    code: src`
      export const origin = { x: 0 y: 0 };
    `,
    fix: src`
      export const origin = { x: 0, y: 0 };
    `,
  },
  {
    id: "ts1005-missing-closing-paren",
    errorCode: "TS1005",
    title: "Missing closing parenthesis in an if condition",
    explanation: "The condition of an if statement must be closed with ) before the block starts.",
    code: src`
      export function firstItem(items: string[]): string {
        if (items.length > 0 {
          return items[0];
        }
        return "";
      }
    `,
    fix: src`
      export function firstItem(items: string[]): string {
        if (items.length > 0) {
          return items[0];
        }
        return "";
      }
    `,
  },
  {
    id: "ts2366-missing-return-branch",
    errorCode: "TS2366",
    title: "Not every code path returns a value",
    explanation:
      "The archived case had no return, so the last branch now returns a value and every path returns a string.",
    code: src`
      export function label(status: "open" | "closed" | "archived"): string {
        if (status === "open") return "Open";
        if (status === "closed") return "Closed";
      }
    `,
    fix: src`
      export function label(status: "open" | "closed" | "archived"): string {
        if (status === "open") return "Open";
        if (status === "closed") return "Closed";
        return "Archived";
      }
    `,
  },
  {
    id: "ts2769-event-listener-wrong-event-type",
    errorCode: "TS2769",
    title: "Event listener typed with the wrong event interface",
    explanation: "A click listener receives a MouseEvent, so the handler parameter is typed as MouseEvent.",
    code: src`
      document.addEventListener("click", (event: KeyboardEvent) => {
        console.log(event.key);
      });
    `,
    fix: src`
      document.addEventListener("click", (event: MouseEvent) => {
        console.log(event.button);
      });
    `,
  },
  {
    id: "ts2551-misspelled-property",
    errorCode: "TS2551",
    title: "Misspelled property name",
    explanation: "Arrays have a length property; the misspelling is corrected.",
    code: src`
      export function isEmpty(items: string[]): boolean {
        return items.lenght === 0;
      }
    `,
    fix: src`
      export function isEmpty(items: string[]): boolean {
        return items.length === 0;
      }
    `,
  },
  {
    id: "ts2552-misspelled-variable",
    errorCode: "TS2552",
    title: "Misspelled variable name (wrong casing)",
    explanation:
      "Identifiers are case-sensitive, so the variable is referenced as userName, the way it was declared.",
    code: src`
      const userName = "ada";
      console.log(username.toUpperCase());
    `,
    fix: src`
      const userName = "ada";
      console.log(userName.toUpperCase());
    `,
  },
  {
    id: "ts2353-excess-property",
    errorCode: "TS2353",
    title: "Object literal with a property the type does not declare",
    explanation:
      "The point needs a z coordinate, so it is typed with an interface that extends Point with z.",
    code: src`
      interface Point {
        x: number;
        y: number;
      }

      export const p: Point = { x: 1, y: 2, z: 3 };
    `,
    fix: src`
      interface Point {
        x: number;
        y: number;
      }

      interface Point3D extends Point {
        z: number;
      }

      export const p: Point3D = { x: 1, y: 2, z: 3 };
    `,
  },
  {
    id: "ts2531-query-selector-null",
    errorCode: "TS2531",
    title: "querySelector result used without a null check",
    explanation:
      "querySelector returns null when nothing matches, so the element is checked before it is written to.",
    code: src`
      document.querySelector("#app").textContent = "Ready";
    `,
    fix: src`
      const app = document.querySelector("#app");
      if (app) app.textContent = "Ready";
    `,
  },
  {
    id: "ts2564-uninitialized-class-property",
    errorCode: "TS2564",
    title: "Class property without an initializer",
    explanation: "strictPropertyInitialization requires a value, so the counter starts at 0.",
    code: src`
      export class Counter {
        count: number;

        increment(): void {
          this.count++;
        }
      }
    `,
    fix: src`
      export class Counter {
        count = 0;

        increment(): void {
          this.count++;
        }
      }
    `,
  },
  {
    id: "ts2454-used-before-assigned",
    errorCode: "TS2454",
    title: "Variable that is only assigned on one branch",
    explanation: "The else branch assigns the variable too, so it is definitely assigned before it is read.",
    code: src`
      export function greeting(hour: number): string {
        let text: string;
        if (hour < 12) {
          text = "Good morning";
        }
        return text;
      }
    `,
    fix: src`
      export function greeting(hour: number): string {
        let text: string;
        if (hour < 12) {
          text = "Good morning";
        } else {
          text = "Good afternoon";
        }
        return text;
      }
    `,
  },
  {
    id: "ts2355-missing-return",
    errorCode: "TS2355",
    title: "Function with a return type that never returns",
    explanation: "The computed sum was discarded; returning it satisfies the declared number return type.",
    code: src`
      export function total(prices: number[]): number {
        prices.reduce((sum, price) => sum + price, 0);
      }
    `,
    fix: src`
      export function total(prices: number[]): number {
        return prices.reduce((sum, price) => sum + price, 0);
      }
    `,
  },
  {
    id: "ts2365-compare-string-with-number",
    errorCode: "TS2365",
    title: "Comparing a string with a number",
    explanation: "The form value is a string, so it is converted to a number before the numeric comparison.",
    code: src`
      export function isAdult(ageInput: string): boolean {
        return ageInput >= 18;
      }
    `,
    fix: src`
      export function isAdult(ageInput: string): boolean {
        return Number(ageInput) >= 18;
      }
    `,
  },
  {
    id: "ts2367-no-overlap-comparison",
    errorCode: "TS2367",
    title: "Comparing against a value the union does not contain",
    explanation: '"pending" is not a Status, so the comparison uses the member that means busy, "loading".',
    code: src`
      type Status = "idle" | "loading" | "done";

      export function isBusy(status: Status): boolean {
        return status === "pending";
      }
    `,
    fix: src`
      type Status = "idle" | "loading" | "done";

      export function isBusy(status: Status): boolean {
        return status === "loading";
      }
    `,
  },
  {
    id: "ts2540-assign-readonly-property",
    errorCode: "TS2540",
    title: "Assigning to a readonly property",
    explanation: "Readonly objects are not mutated; a new object is created with the changed field instead.",
    code: src`
      interface Config {
        readonly apiUrl: string;
      }

      const config: Config = { apiUrl: "http://localhost:54321" };
      config.apiUrl = "https://api.example.com";
      console.log(config);
    `,
    fix: src`
      interface Config {
        readonly apiUrl: string;
      }

      const config: Config = { apiUrl: "http://localhost:54321" };
      const productionConfig: Config = { ...config, apiUrl: "https://api.example.com" };
      console.log(config, productionConfig);
    `,
  },
  {
    id: "ts2588-reassign-const",
    errorCode: "TS2588",
    title: "Reassigning a const variable",
    explanation: "A counter that changes must be declared with let.",
    code: src`
      export function countVowels(word: string): number {
        const count = 0;
        for (const ch of word) {
          if ("aeiou".includes(ch)) count += 1;
        }
        return count;
      }
    `,
    fix: src`
      export function countVowels(word: string): number {
        let count = 0;
        for (const ch of word) {
          if ("aeiou".includes(ch)) count += 1;
        }
        return count;
      }
    `,
  },
  {
    id: "ts2349-call-a-number",
    errorCode: "TS2349",
    title: "Calling a property that is not a function",
    explanation: "timeout is a number property, not a method, so it is read without calling it.",
    code: src`
      const requestConfig = { timeout: 5000 };
      console.log(requestConfig.timeout());
    `,
    fix: src`
      const requestConfig = { timeout: 5000 };
      console.log(requestConfig.timeout);
    `,
  },
  {
    id: "ts2351-new-on-instance",
    errorCode: "TS2351",
    title: "Using new on an instance instead of the class",
    explanation:
      "defaultQueue is already an instance without a construct signature, so the new queue is built from the class.",
    code: src`
      class Queue<T> {
        private items: T[] = [];
        push(item: T): void {
          this.items.push(item);
        }
      }

      const defaultQueue = new Queue<string>();
      export const jobs = new defaultQueue();
    `,
    fix: src`
      class Queue<T> {
        private items: T[] = [];
        push(item: T): void {
          this.items.push(item);
        }
      }

      const defaultQueue = new Queue<string>();
      export const jobs = new Queue<string>();
    `,
  },
  {
    id: "ts2693-type-used-as-value",
    errorCode: "TS2693",
    title: "Using a union type alias as a runtime value",
    explanation:
      "Types are erased at runtime, so the values live in a const array and the type is derived from it.",
    code: src`
      type Role = "admin" | "editor" | "viewer";

      export const allRoles = Object.values(Role);
    `,
    fix: src`
      export const allRoles = ["admin", "editor", "viewer"] as const;

      export type Role = (typeof allRoles)[number];
    `,
  },
  {
    id: "ts2305-missing-named-export",
    errorCode: "TS2305",
    title: "Importing a name the module does not export",
    explanation:
      "shop/cart has no removeItem export; checkout imports clear, an export the cart module does declare.",
    code: src`
      declare module "shop/cart" {
        export function addItem(sku: string): void;
        export function clear(): void;
      }

      declare module "shop/checkout" {
        import { removeItem } from "shop/cart";
        export function checkout(): void;
      }
    `,
    fix: src`
      declare module "shop/cart" {
        export function addItem(sku: string): void;
        export function clear(): void;
      }

      declare module "shop/checkout" {
        import { clear } from "shop/cart";
        export function checkout(): void;
      }
    `,
  },
  {
    id: "ts2614-default-imported-as-named",
    errorCode: "TS2614",
    title: "Named import of a default export",
    explanation: "The module only has a default export, so it is imported with default-import syntax.",
    code: src`
      declare module "app/server" {
        export default function startServer(port: number): void;
      }

      declare module "app/main" {
        import { startServer } from "app/server";
        export function main(): void;
      }
    `,
    fix: src`
      declare module "app/server" {
        export default function startServer(port: number): void;
      }

      declare module "app/main" {
        import startServer from "app/server";
        export function main(): void;
      }
    `,
  },
  {
    id: "ts2739-missing-several-properties",
    errorCode: "TS2739",
    title: "Object literal missing several required properties",
    explanation: "city and zip are required by Address, so the literal provides them.",
    code: src`
      interface Address {
        street: string;
        city: string;
        zip: string;
      }

      export const home: Address = { street: "1 Main St" };
    `,
    fix: src`
      interface Address {
        street: string;
        city: string;
        zip: string;
      }

      export const home: Address = { street: "1 Main St", city: "Springfield", zip: "12345" };
    `,
  },
  {
    id: "ts2740-set-assigned-to-array",
    errorCode: "TS2740",
    title: "Assigning a Set where an array is expected",
    explanation:
      "A Set is not an array; spreading it into an array literal produces the string[] the variable expects.",
    code: src`
      export const tags: string[] = new Set(["ts", "deno", "ts"]);
    `,
    fix: src`
      export const tags: string[] = [...new Set(["ts", "deno", "ts"])];
    `,
  },
  {
    id: "ts2559-weak-type-no-common-properties",
    errorCode: "TS2559",
    title: "Options object shares no property with an all-optional type",
    explanation: "The option is named timeout in RequestOptions, so the object uses that name.",
    code: src`
      interface RequestOptions {
        timeout?: number;
        retries?: number;
      }

      function request(url: string, options: RequestOptions): string {
        return url + JSON.stringify(options);
      }

      const fastOptions = { timeoutMs: 500 };
      request("/api/health", fastOptions);
    `,
    fix: src`
      interface RequestOptions {
        timeout?: number;
        retries?: number;
      }

      function request(url: string, options: RequestOptions): string {
        return url + JSON.stringify(options);
      }

      const fastOptions = { timeout: 500 };
      request("/api/health", fastOptions);
    `,
  },
  {
    id: "ts1308-await-in-non-async-function",
    errorCode: "TS1308",
    title: "await inside a function that is not async",
    explanation: "await is only allowed in async functions, so the function is marked async.",
    code: src`
      export function loadUser(id: string) {
        const response = await fetch("/api/users/" + id);
        return response.json();
      }
    `,
    fix: src`
      export async function loadUser(id: string) {
        const response = await fetch("/api/users/" + id);
        return response.json();
      }
    `,
  },
  {
    id: "ts2794-resolve-without-value",
    errorCode: "TS2794",
    title: "Resolving a Promise<boolean> without a value",
    explanation: "A Promise<boolean> must be resolved with a boolean, so resolve receives true.",
    code: src`
      export const ready = new Promise<boolean>((resolve) => {
        setTimeout(() => resolve(), 100);
      });
    `,
    fix: src`
      export const ready = new Promise<boolean>((resolve) => {
        setTimeout(() => resolve(true), 100);
      });
    `,
  },
  {
    id: "ts2801-unawaited-promise-in-condition",
    errorCode: "TS2801",
    title: "Promise used as a condition without await",
    explanation: "A Promise object is always truthy, so it is awaited to test the boolean it resolves to.",
    code: src`
      async function isLoggedIn(): Promise<boolean> {
        return document.cookie.includes("session=");
      }

      export async function showMenu(): Promise<string> {
        if (isLoggedIn()) return "account";
        return "login";
      }
    `,
    fix: src`
      async function isLoggedIn(): Promise<boolean> {
        return document.cookie.includes("session=");
      }

      export async function showMenu(): Promise<string> {
        if (await isLoggedIn()) return "account";
        return "login";
      }
    `,
  },
  {
    id: "ts7053-string-index-on-object",
    errorCode: "TS7053",
    title: "Indexing an object literal with an arbitrary string",
    explanation: "Typing the key as keyof typeof labels restricts it to the keys the object really has.",
    code: src`
      const labels = { draft: "Draft", published: "Published" };

      export function label(status: string): string {
        return labels[status];
      }
    `,
    fix: src`
      const labels = { draft: "Draft", published: "Published" };

      export function label(status: keyof typeof labels): string {
        return labels[status];
      }
    `,
  },
  {
    id: "ts7031-untyped-destructured-parameter",
    errorCode: "TS7031",
    title: "Destructured parameter without a type",
    explanation: "The destructured parameter gets an object type, so first and last are typed as strings.",
    code: src`
      export function fullName({ first, last }) {
        return first + " " + last;
      }
    `,
    fix: src`
      export function fullName({ first, last }: { first: string; last: string }) {
        return first + " " + last;
      }
    `,
  },
  {
    id: "ts2344-generic-constraint-not-satisfied",
    errorCode: "TS2344",
    title: "Type argument does not satisfy the generic constraint",
    explanation: "The repository requires entities with an id, so Product declares one.",
    code: src`
      interface Entity {
        id: string;
      }

      class Repository<T extends Entity> {
        private items: T[] = [];
        add(item: T): void {
          this.items.push(item);
        }
      }

      interface Product {
        sku: string;
        price: number;
      }

      export const products = new Repository<Product>();
    `,
    fix: src`
      interface Entity {
        id: string;
      }

      class Repository<T extends Entity> {
        private items: T[] = [];
        add(item: T): void {
          this.items.push(item);
        }
      }

      interface Product {
        id: string;
        sku: string;
        price: number;
      }

      export const products = new Repository<Product>();
    `,
  },
  {
    id: "ts2571-unknown-element-access",
    errorCode: "TS2571",
    title: "Calling a method on an element of unknown[]",
    explanation: "unknown must be narrowed or converted before use; String() converts any value safely.",
    code: src`
      export function firstAsText(values: unknown[]): string {
        return values[0].toString();
      }
    `,
    fix: src`
      export function firstAsText(values: unknown[]): string {
        return String(values[0]);
      }
    `,
  },
  {
    id: "ts18046-unknown-catch-variable",
    errorCode: "TS18046",
    title: "Reading .message from a catch variable of type unknown",
    explanation:
      "Anything can be thrown, so the value is narrowed with instanceof Error before reading message.",
    code: src`
      export function parseConfig(text: string): unknown {
        try {
          return JSON.parse(text);
        } catch (err) {
          throw new Error("Invalid config: " + err.message);
        }
      }
    `,
    fix: src`
      export function parseConfig(text: string): unknown {
        try {
          return JSON.parse(text);
        } catch (err) {
          throw new Error("Invalid config: " + (err instanceof Error ? err.message : String(err)));
        }
      }
    `,
  },
  {
    id: "ts2448-used-before-declaration",
    errorCode: "TS2448",
    title: "const used before its declaration",
    explanation:
      "const bindings are in the temporal dead zone until declared, so the declaration is moved above its first use.",
    code: src`
      export function finalPrice(base: number, coupon?: string): number {
        const total = base - (discount ?? 0);
        const discount: number | undefined = coupon === "SAVE10" ? 10 : undefined;
        return total;
      }
    `,
    fix: src`
      export function finalPrice(base: number, coupon?: string): number {
        const discount: number | undefined = coupon === "SAVE10" ? 10 : undefined;
        const total = base - (discount ?? 0);
        return total;
      }
    `,
  },
  {
    id: "ts2451-redeclared-block-variable",
    errorCode: "TS2451",
    title: "Declaring the same const twice in one scope",
    explanation: "Each value gets its own name, so no block-scoped variable is declared twice.",
    code: src`
      export function summarize(values: number[]) {
        const total = values.length;
        const total = values.reduce((a, b) => a + b, 0);
        return { total };
      }
    `,
    fix: src`
      export function summarize(values: number[]) {
        const count = values.length;
        const total = values.reduce((a, b) => a + b, 0);
        return { count, total };
      }
    `,
  },
  {
    id: "ts2300-duplicate-type-alias",
    errorCode: "TS2300",
    title: "Type alias declared twice",
    explanation: "A type alias cannot be redeclared, so the two declarations are merged into one union.",
    code: src`
      type Id = string;
      type Id = number;

      export function describe(id: Id): string {
        return "id:" + id;
      }
    `,
    fix: src`
      type Id = string | number;

      export function describe(id: Id): string {
        return "id:" + id;
      }
    `,
  },
  {
    id: "ts2393-duplicate-function-implementation",
    errorCode: "TS2393",
    title: "Two implementations of the same function",
    explanation: "TypeScript overloads are signatures plus one implementation that handles every case.",
    code: src`
      function format(value: number): string {
        return value.toFixed(2);
      }

      function format(value: Date): string {
        return value.toISOString();
      }

      export { format };
    `,
    fix: src`
      function format(value: number): string;
      function format(value: Date): string;
      function format(value: number | Date): string {
        return typeof value === "number" ? value.toFixed(2) : value.toISOString();
      }

      export { format };
    `,
  },
  {
    id: "ts1109-missing-expression",
    errorCode: "TS1109",
    title: "Conditional expression with a missing branch",
    explanation: "The last branch of the conditional needs an expression; it returns the value unchanged.",
    code: src`
      export function clamp(value: number, min: number, max: number): number {
        return value < min ? min : value > max ? max : ;
      }
    `,
    fix: src`
      export function clamp(value: number, min: number, max: number): number {
        return value < min ? min : value > max ? max : value;
      }
    `,
  },
  {
    id: "ts1128-extra-closing-brace",
    errorCode: "TS1128",
    title: "Stray closing brace after a function",
    explanation: "The extra } closes nothing, so it is removed.",
    code: src`
      export function greet(person: string): string {
        return "Hi " + person;
      }
      }
    `,
    fix: src`
      export function greet(person: string): string {
        return "Hi " + person;
      }
    `,
  },
  {
    id: "ts2820-string-literal-typo",
    errorCode: "TS2820",
    title: "String literal with the wrong casing for a literal union",
    explanation: 'Method only allows upper-case verbs, so the literal is spelled "GET".',
    code: src`
      type Method = "GET" | "POST" | "PUT" | "DELETE";

      export const method: Method = "get";
    `,
    fix: src`
      type Method = "GET" | "POST" | "PUT" | "DELETE";

      export const method: Method = "GET";
    `,
  },
];
