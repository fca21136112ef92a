// Text Postgres cannot store: a NUL character (text and jsonb refuse U+0000) or a lone UTF-16 surrogate (not
// Unicode at all: jsonb refuses its escape, and a text column would get it silently replaced). Request bodies
// are checked once, where they are parsed, so such input is a 400 naming the field instead of a database
// error (500) somewhere later.

export interface UnstorableText {
  /** Where, as a dotted path ("messages.0.content"; "" for the body itself). */
  path: string;
  problem: string;
}

function problemOf(text: string): string | null {
  if (text.includes("\0")) return "contains a NUL character (\\u0000), which cannot be stored; remove it";
  if (!text.isWellFormed()) {
    return "contains a lone UTF-16 surrogate (half of a character), which is not valid Unicode; send well-formed text";
  }
  return null;
}

/** The first string (value or key) in `value` that cannot be stored, or null. */
export function findUnstorableText(value: unknown, path: string[] = []): UnstorableText | null {
  if (typeof value === "string") {
    const problem = problemOf(value);
    return problem ? { path: path.join("."), problem } : null;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = findUnstorableText(item, [...path, String(i)]);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const keyProblem = problemOf(key);
      if (keyProblem) return { path: [...path, JSON.stringify(key)].join("."), problem: `key ${keyProblem}` };
      const found = findUnstorableText(item, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}
