// The TypeScript file several tests fix: two functions, an interface and a constant, with TS2322 in `label`
// (line 7). Neither the compiler's code fixes nor the knowledge base's past fixes fix it, so only an LLM can (or
// the nearest past fix, as written).

export const LABEL_FILE = `interface User {
  id: number;
  name: string;
}

export function label(user: User): string {
  const id: string = user.id;
  return id + ":" + user.name;
}

export function greet(user: User): string {
  return "Hello, " + user.name;
}

export const MAX_USERS = 10;
`;

/** The error as the compiler prints it for the file at src/label.ts. */
export const LABEL_ERROR =
  "src/label.ts(7,9): error TS2322: Type 'number' is not assignable to type 'string'.";

/** The honest fix: the id converted, nothing else touched. */
export const convertId = (code: string) => code.replace("= user.id;", "= String(user.id);");
