import test from 'ava';
import { z } from 'zod';
import { hasCode } from '../src/errors/appError.ts';
import { errorBody, maxErrorBodyBytes } from '../src/http/envelope.ts';
import { fieldName } from '../src/http/fieldName.ts';
import { guardInput, maxInputDepth, maxObjectFields } from '../src/http/inputGuard.ts';
import { openApiDocument } from '../src/http/routes/catalogue.ts';
import type { JsonObject } from '../src/http/routes/openapiDocument.ts';
import { boundedArray, maxListedIssues, parseInput } from '../src/http/validation.ts';

const at = { requestId: 'req_00000000000000000000', timestamp: '2024-01-01T00:00:00.000Z' };

function refusal(run: () => unknown): { message: string; details: Record<string, unknown> } {
  try {
    run();
  } catch (error) {
    if (hasCode(error, 'VALIDATION_ERROR')) return error as { message: string; details: Record<string, unknown> };
    throw error;
  }
  throw new Error('not refused');
}

test('guardInput refuses NUL and lone surrogates in values and keys, naming the field', (t) => {
  const cases: readonly [unknown, string][] = [
    [{ name: 'a\u0000b' }, 'name'],
    [{ settings: { label: '\ud800' } }, 'settings.label'],
    [{ events: ['ok', 'x\udfff'] }, 'events[1]'],
    [{ ['bad\u0000key']: 1 }, 'bad\\u0000key'],
    [{ nested: { ['\udc00\ud800']: 1 } }, 'nested.\\udc00\\ud800'],
    ['\u0000', 'body'],
  ];
  for (const [value, field] of cases) {
    const error = refusal(() => guardInput(value, 'body'));
    t.is(error.details.field, field);
    t.is(error.details.in, 'body');
    t.true(error.message.startsWith(`${field}: `));
  }
});

test('guardInput lets well-formed text through: emoji (surrogate pairs), accents, other control characters', (t) => {
  t.notThrows(() => guardInput({ name: 'Zoë 👩‍💻', note: 'tab\tand\nnewline', list: ['𝄞', 'é'] }, 'body'));
});

test('guardInput bounds nesting and the number of fields of an object', (t) => {
  let deep: unknown = 1;
  for (let i = 0; i < maxInputDepth; i++) deep = [deep];
  t.notThrows(() => guardInput(deep, 'body'));
  t.regex(refusal(() => guardInput([deep], 'body')).message, new RegExp(`deeper than ${maxInputDepth}`));
  const wide = Object.fromEntries(Array.from({ length: maxObjectFields + 1 }, (_, i) => [`k${i}`, i]));
  t.regex(refusal(() => guardInput(wide, 'body')).message, /at most 256/);
});

test('parseInput walks query and path values with the same guard', (t) => {
  const query = z.strictObject({ search: z.string().optional() });
  t.like(refusal(() => parseInput(query, { search: 'a\u0000' }, 'query')).details, { field: 'search', in: 'query' });
  t.like(refusal(() => parseInput(z.string(), 'usr_\u0000', 'path', 'id')).details, { field: 'id', in: 'path' });
});

test('a bounded array refuses an over-long array before it validates a single item', (t) => {
  let itemsChecked = 0;
  const item = z.string().refine(() => {
    itemsChecked++;
    return false;
  });
  const result = boundedArray(item, { max: 6 }).safeParse(new Array(349_000).fill(''));
  t.false(result.success);
  t.is(result.error?.issues.length, 1);
  t.is(itemsChecked, 0);
  t.is(result.error?.issues[0]?.message, 'must have at most 6 items');
});

test('every array a request accepts declares maxItems (bodies and query parameters of the OpenAPI document)', (t) => {
  const document = openApiDocument();
  const unbounded: string[] = [];
  const resolve = (node: JsonObject): JsonObject => {
    const ref = node.$ref;
    return typeof ref === 'string' ? (document.components.schemas[ref.split('/').at(-1)!] as JsonObject) : node;
  };
  const visit = (node: unknown, where: string, seen: Set<unknown>): void => {
    if (typeof node !== 'object' || node === null || seen.has(node)) return;
    seen.add(node);
    const schema = resolve(node as JsonObject);
    if (schema.type === 'array' && typeof schema.maxItems !== 'number') unbounded.push(where);
    for (const [key, child] of Object.entries(schema)) visit(child, `${where}.${key}`, seen);
  };
  let requests = 0;
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations ?? {})) {
      const body = (operation.requestBody as { content?: Record<string, { schema?: unknown }> } | undefined)?.content?.['application/json']?.schema;
      if (body !== undefined) requests++;
      visit(body, `${method.toUpperCase()} ${path} body`, new Set());
      for (const parameter of operation.parameters ?? []) visit((parameter as { schema?: unknown }).schema, `${method.toUpperCase()} ${path} ${String((parameter as { name?: unknown }).name)}`, new Set());
    }
  }
  t.true(requests >= 10, `${requests} request bodies found`);
  t.deepEqual(unbounded, []);
});

test('a validation error lists at most 20 issues and counts the rest', (t) => {
  const schema = boundedArray(z.number(), { max: 128 });
  const error = refusal(() => parseInput(schema, new Array(100).fill('x'), 'body', 'descriptor'));
  t.is((error.details.issues as unknown[]).length, maxListedIssues);
  t.is(error.details.issuesOmitted, 80);
});

test('unknown fields are named five at a time, whatever their number or length', (t) => {
  const input = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`${'k'.repeat(500)}${i}`, 1]));
  const error = refusal(() => parseInput(z.strictObject({}), input, 'body'));
  t.regex(error.message, /and 195 more$/);
  t.true(error.message.length < 600, `${error.message.length} characters`);
});

test('field names are printable and short', (t) => {
  t.is(fieldName(['a\u0000b', 3, 'c']), 'a\\u0000b[3].c');
  t.is(fieldName(['x'.repeat(1000)]), `${'x'.repeat(64)}…`);
  t.true(fieldName(Array.from({ length: 100 }, () => 'segment')).length <= 201);
  const cut = fieldName([`a${'👩'.repeat(40)}`]);
  t.is(cut.length, 64, 'cut before the pair that the limit would split');
  t.true((cut as unknown as { isWellFormed(): boolean }).isWellFormed(), 'a surrogate pair is never cut in half');
});

test('every error body stays small, whatever its message and details hold', (t) => {
  const huge = 'x'.repeat(1_000_000);
  const details = { field: huge, list: new Array(10_000).fill(huge), nested: { a: { b: { c: { d: { e: { f: huge } } } } } }, many: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, huge])) };
  for (const shape of ['envelope', 'sdk'] as const) {
    const text = JSON.stringify(errorBody(shape, 'VALIDATION_ERROR', huge, details, at));
    t.true(Buffer.byteLength(text) < maxErrorBodyBytes, `${Buffer.byteLength(text)} bytes`);
  }
  t.deepEqual(errorBody('sdk', 'NOT_FOUND', 'no', { userId: 'usr_1' }, at), { success: false, error: 'no', code: 'NOT_FOUND', details: { userId: 'usr_1' }, requestId: at.requestId });
  t.deepEqual(errorBody('envelope', 'NOT_FOUND', 'no', { at: new Date(0) }, at), { success: false, error: { code: 'NOT_FOUND', message: 'no', details: { at: '1970-01-01T00:00:00.000Z' } }, meta: at });
});
