import { clipText, printable } from './clientText.ts';

/** Longest key, and longest whole name, that an error message repeats. */
const maxKey = 64;
const maxName = 200;

/**
 * Formats a path as the field name a client sent (`descriptor[3]`, `lightingConditions.brightness`).
 * Keys are the client's text: they are shown printable and cut when long, so an error naming a
 * field stays small.
 */
export function fieldName(path: readonly PropertyKey[]): string {
  let name = '';
  for (const part of path) {
    if (typeof part === 'number') name += `[${part}]`;
    else {
      const key = clipText(printable(String(part)), maxKey);
      name += name === '' ? key : `.${key}`;
    }
    if (name.length > maxName) return clipText(name, maxName);
  }
  return name;
}
