import { z } from 'zod';
import { AppError } from '../errors/appError.ts';
import { fieldName } from './fieldName.ts';
import { guardInput, type InputPlace } from './inputGuard.ts';

/** Most issues an error lists; the rest are counted (`details.issuesOmitted`). */
export const maxListedIssues = 20;
/** Most unknown field names one issue repeats. */
const maxListedKeys = 5;

/**
 * Parses input with a schema; on failure throws VALIDATION_ERROR whose message names the first
 * offending field and whose details list the first `maxListedIssues` issues. Query and path values
 * are first walked by `guardInput` (bodies were, when `readJsonBody` parsed them).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where: InputPlace, rootField: string = where): z.infer<S> {
  if (where !== 'body') guardInput(input, where, rootField);
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const all = result.error.issues;
  const issues = all.slice(0, maxListedIssues).map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? (issue as unknown as { keys: string[] }).keys : undefined;
    const field = keys?.length ? fieldName([...issue.path, keys[0]!]) : fieldName(issue.path) || rootField;
    return { field, message: keys?.length ? unknownFields(keys) : issue.message };
  });
  const first = issues[0]!;
  const omitted = all.length - issues.length;
  throw new AppError('VALIDATION_ERROR', `${first.field}: ${first.message}`, { field: first.field, in: where, issues, ...(omitted > 0 ? { issuesOmitted: omitted } : {}) });
}

function unknownFields(keys: readonly string[]): string {
  const named = keys.slice(0, maxListedKeys).map((key) => JSON.stringify(fieldName([key])));
  const more = keys.length - named.length;
  return `unknown field${keys.length > 1 ? 's' : ''} ${named.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

/**
 * An array of at most `max` items. zod checks an array's size bounds before its items, so an
 * over-long array costs one issue and no item is looked at; every array a request accepts is
 * declared through this (a test walks the OpenAPI document for arrays without `maxItems`).
 */
export function boundedArray<T extends z.ZodType>(item: T, bounds: { readonly max: number; readonly min?: number }, messages: { readonly type?: string; readonly max?: string; readonly min?: string } = {}) {
  const array = z.array(item, messages.type !== undefined ? { error: messages.type } : undefined).max(bounds.max, messages.max ?? `must have at most ${bounds.max} items`);
  return bounds.min === undefined ? array : array.min(bounds.min, messages.min ?? `must have at least ${bounds.min} item${bounds.min === 1 ? '' : 's'}`);
}
