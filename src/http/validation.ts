import type { z } from 'zod';
import { AppError } from '../errors/appError.ts';

/** Formats a zod path as the field name a client sent (`descriptor[3]`, `lightingConditions.brightness`). */
export function fieldName(path: readonly PropertyKey[]): string {
  let name = '';
  for (const part of path) {
    if (typeof part === 'number') name += `[${part}]`;
    else name += name === '' ? String(part) : `.${String(part)}`;
  }
  return name;
}

/**
 * Parses input with a schema; on failure throws VALIDATION_ERROR whose message names the first
 * offending field and whose details list every issue.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where: 'body' | 'query' | 'path', rootField: string = where): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? (issue as unknown as { keys: string[] }).keys : undefined;
    const field = keys?.length ? fieldName([...issue.path, keys[0]!]) : fieldName(issue.path) || rootField;
    return { field, message: keys?.length ? `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => JSON.stringify(k)).join(', ')}` : issue.message };
  });
  const first = issues[0]!;
  throw new AppError('VALIDATION_ERROR', `${first.field}: ${first.message}`, { field: first.field, in: where, issues });
}
