import test from 'ava';
import type { ErrorCode } from '../src/errors/appError.ts';
import { assertRefusal, fetchedAnswer, hostileDescriptor, startHostileService, type CallerKind, type HostileTargets } from './support/hostile.ts';

/**
 * Hostile JSON bodies on every route that takes one (/v1, /admin, /api/devportal): each case is one
 * valid body with one thing broken, generated from the tables below. Every answer must be a small
 * 4xx in the envelope (the SDK's flat shape on /api/devportal), and nothing may reach the store.
 */

let targets: HostileTargets;

test.before(async () => {
  targets = await startHostileService();
});

test.after.always(async () => {
  await targets?.running.stop();
});

const j = (value: unknown) => JSON.stringify(value);
const nested = (open: string, close: string, inner: string, levels: number) => open.repeat(levels) + inner + close.repeat(levels);

/** One way to break a field: a label, the raw JSON put in its place, and the code expected (VALIDATION_ERROR unless said). */
type Mutation = readonly [label: string, rawJson: string, code?: ErrorCode];

/** Text holding what PostgreSQL cannot store: NUL and lone surrogates (as JSON escapes), and a raw NUL (invalid JSON). */
const poisoned = (valid: string): Mutation[] => [
  ['NUL at the end', j(`${valid}\u0000`)],
  ['NUL at the start', j(`\u0000${valid}`)],
  ['a lone high surrogate', j(`${valid}\ud800`)],
  ['a lone low surrogate', j(`\udfff${valid}`)],
  ['reversed surrogates', j(`${valid.slice(0, 1)}\udc00\ud800${valid.slice(1)}`)],
  ['a raw NUL byte', `"${valid}\u0000"`],
];

const wrongTypes = (except: readonly string[] = []): Mutation[] =>
  (
    [
      ['a number', '42'],
      ['true', 'true'],
      ['an array', '[]'],
      ['an object', '{}'],
      ['null', 'null'],
    ] as Mutation[]
  ).filter(([label]) => !except.includes(label));

const kinds = {
  email: (): Mutation[] => [
    ...poisoned('hostile@example.com'),
    ...wrongTypes(),
    ['not an email', j('not-an-email')],
    ['empty', '""'],
    ['300 characters', j(`${'a'.repeat(288)}@example.com`)],
    ['1e400', '1e400'],
  ],
  text: (valid: string, max?: number): Mutation[] => [
    ...poisoned(valid),
    ...wrongTypes(),
    ...(max !== undefined ? ([[`${max + 1} characters`, j('a'.repeat(max + 1))], ['100 KB', j('a'.repeat(100_000))]] as Mutation[]) : []),
  ],
  enumeration: (valid: string): Mutation[] => [...poisoned(valid), ...wrongTypes(), ['an unknown value', j('nope')], ['empty', '""'], ['upper case', j(valid.toUpperCase())], ['in an array', j([valid])]],
  id: (valid: string): Mutation[] => [
    ...poisoned(valid),
    ...wrongTypes(),
    ['another prefix', j(`xyz_${valid.slice(4)}`)],
    ['upper-case hex', j(valid.toUpperCase())],
    ['one character short', j(valid.slice(0, -1))],
  ],
  dateTime: (options: { nullable?: boolean; past?: boolean } = {}): Mutation[] => [
    ...poisoned('2024-01-01T00:00:00Z'),
    ...wrongTypes(options.nullable ? ['null'] : []),
    ['month 13', j('2024-13-01T00:00:00Z')],
    ['words', j('yesterday')],
    ['1e400', '1e400'],
    ...(options.past ? ([['in the future', j('2999-01-01T00:00:00Z')]] as Mutation[]) : []),
  ],
  number: (range: { min: number; max: number; int?: boolean; nullable?: boolean }): Mutation[] => [
    ['1e400 (Infinity)', '1e400'],
    ['-1e400 (-Infinity)', '-1e400'],
    ['"NaN"', j('NaN')],
    ['"Infinity"', j('Infinity')],
    ['a numeric string', j(String(range.max))],
    ['1e308', '1e308'],
    ['-1e308', '-1e308'],
    ['below the minimum', String(range.int ? range.min - 1 : range.min - 0.01)],
    ['above the maximum', String(range.int ? range.max + 1 : range.max + 0.01)],
    ['a NUL string', j('\u0000')],
    ...(range.int ? ([['a fraction', '1.5']] as Mutation[]) : []),
    ...wrongTypes(range.nullable ? ['a number', 'null'] : ['a number']),
  ],
  descriptor: (face: readonly number[]): Mutation[] => {
    const head = face.slice(0, 127);
    return [
      ['127 numbers', j(head)],
      ['129 numbers', j([...face, 0])],
      ['no numbers', '[]'],
      ['128 strings', j(face.map(String))],
      ['1e400 at the end', `[${head.join(',')},1e400]`],
      ['-1e400 at the end', `[${head.join(',')},-1e400]`],
      ['"NaN" at the end', j([...head, 'NaN'])],
      ['NUL at the end', j([...head, '\u0000'])],
      ['a lone surrogate at the end', j([...head, '\ud800'])],
      ['an object at the end', j([...head, {}])],
      ['25 nested arrays at the end', `[${head.join(',')},${nested('[', ']', '', 25)}]`],
      ['128 nulls', j(new Array(128).fill(null))],
      ['128 booleans', j(new Array(128).fill(true))],
      ['128 one-item arrays', j(face.map((x) => [x]))],
      ['400,000 numbers', `[${'0,'.repeat(399_999)}0]`],
      ['a string', j(face.join(','))],
      ...wrongTypes(['an array']),
    ];
  },
  settings: (): Mutation[] => [
    ...wrongTypes(['an object']),
    ['maxTemplates 1e400', '{"maxTemplates":1e400}'],
    ['maxTemplates as a string', '{"maxTemplates":"5"}'],
    ['matchThreshold "NaN"', '{"matchThreshold":"NaN"}'],
    ['inactiveUserErasureMonths 0.5', '{"inactiveUserErasureMonths":0.5}'],
    ['an unknown setting', '{"nope":1}'],
    ['a __proto__ setting', '{"__proto__":{"maxTemplates":5}}'],
    ['a constructor setting', '{"constructor":{"prototype":{"polluted":true}}}'],
    ['NUL in a setting name', '{"max\\u0000Templates":5}'],
    ['a lone surrogate as a setting name', '{"\\ud800":5}'],
    ['300 settings', j(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`s${i}`, i])))],
    ['objects nested 25 deep', nested('{"a":', '}', '1', 25)],
  ],
  lighting: (): Mutation[] => [
    ...wrongTypes(['an object']),
    ['brightness 1e400', '{"brightness":1e400,"contrast":1}'],
    ['brightness -1', '{"brightness":-1,"contrast":1}'],
    ['brightness as a string', '{"brightness":"1","contrast":1}'],
    ['contrast missing', '{"brightness":1}'],
    ['an unknown field', '{"brightness":1,"contrast":1,"x":1}'],
    ['a __proto__ field', '{"brightness":1,"contrast":1,"__proto__":{}}'],
  ],
  names: (valid: readonly string[], max: number): Mutation[] => [
    ['349,000 empty strings (1 MB)', `[${'"",'.repeat(348_999)}""]`],
    [`${max + 1} items`, j(new Array(max + 1).fill(valid[0]))],
    ['no items', '[]'],
    ['an empty string', j([''])],
    ['an unknown name', j(['nope'])],
    ['NUL in a name', j([`${valid[0]}\u0000`])],
    ['a lone surrogate in a name', j([`${valid[0]}\ud800`])],
    ['a number item', '[1]'],
    ['a nested array', j([[valid[0]]])],
    ['arrays nested 25 deep', nested('[', ']', '', 25)],
    ['a string', j(valid[0])],
    ...wrongTypes(['an array']),
  ],
};

interface BodyRoute {
  readonly method: string;
  readonly path: string;
  readonly caller: CallerKind;
  /** A valid body, as raw JSON per field. */
  readonly base: (targets: HostileTargets) => Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, () => Mutation[]>>;
  readonly acceptsImage?: boolean;
  /** Routes where `{}` or every field optional would make an empty object valid. */
  readonly emptyIsValid?: boolean;
}

const face = () => hostileDescriptor;
const routes: readonly BodyRoute[] = [
  {
    method: 'POST',
    path: '/v1/faces/register',
    caller: 'key',
    acceptsImage: true,
    base: (x) => ({ email: j('hostile2@example.com'), descriptor: j(x.descriptor), qualityScore: '0.8', lightingConditions: '{"brightness":100,"contrast":50}' }),
    fields: { email: kinds.email, descriptor: () => kinds.descriptor(face()), qualityScore: () => kinds.number({ min: 0, max: 1 }), lightingConditions: kinds.lighting },
  },
  {
    method: 'POST',
    path: '/v1/faces/verify',
    caller: 'key',
    acceptsImage: true,
    base: (x) => ({ userId: j(x.userId), descriptor: j(x.descriptor), lightingScore: '0.5', threshold: '0.5' }),
    fields: { userId: () => kinds.id(`usr_${'a'.repeat(32)}`), descriptor: () => kinds.descriptor(face()), lightingScore: () => kinds.number({ min: 0, max: 1 }), threshold: () => kinds.number({ min: 0.35, max: 0.95 }) },
  },
  {
    method: 'POST',
    path: '/v1/faces/identify',
    caller: 'key',
    acceptsImage: true,
    base: (x) => ({ descriptor: j(x.descriptor), lightingScore: '0.5', threshold: '0.5', maxResults: '3', at: j('2024-01-01T00:00:00Z') }),
    fields: {
      descriptor: () => kinds.descriptor(face()),
      lightingScore: () => kinds.number({ min: 0, max: 1 }),
      threshold: () => kinds.number({ min: 0.35, max: 0.95 }),
      maxResults: () => kinds.number({ min: 1, max: 50, int: true }),
      at: () => kinds.dateTime({ past: true }),
    },
  },
  {
    method: 'POST',
    path: '/v1/faces/detect',
    caller: 'key',
    acceptsImage: true,
    base: () => ({ image: j('data:image/png;base64,iVBORw0KGgo=') }),
    fields: { image: () => kinds.text('data:image/png;base64,iVBORw0KGgo=') },
  },
  {
    method: 'POST',
    path: '/v1/webhooks',
    caller: 'key',
    base: () => ({ url: j('http://127.0.0.1:9/hostile'), events: j(['face.registered']) }),
    fields: { url: () => kinds.text('http://127.0.0.1:9/hostile', 2048), events: () => kinds.names(['face.registered'], 6) },
  },
  {
    method: 'POST',
    path: '/admin/tenants',
    caller: 'admin',
    base: () => ({ name: j('hostile tenant'), plan: j('free'), settings: '{"maxTemplates":5}' }),
    fields: { name: () => [...kinds.text('hostile tenant', 200), ['only spaces', j('   ')]], plan: () => kinds.enumeration('free'), settings: kinds.settings },
  },
  {
    method: 'PATCH',
    path: '/admin/tenants/{tenant}',
    caller: 'admin',
    emptyIsValid: true,
    base: () => ({ plan: j('pro'), settings: '{"matchThreshold":0.5}' }),
    fields: { plan: () => kinds.enumeration('pro'), settings: kinds.settings },
  },
  {
    method: 'POST',
    path: '/admin/tenants/{tenant}/keys',
    caller: 'admin',
    base: () => ({ mode: j('test'), name: j('hostile key'), scopes: j(['faces:verify']), expiresAt: j('2999-01-01T00:00:00Z') }),
    fields: { mode: () => kinds.enumeration('test'), name: () => kinds.text('hostile key', 200), scopes: () => kinds.names(['faces:verify'], 7), expiresAt: () => kinds.dateTime({ nullable: true }) },
  },
  {
    method: 'POST',
    path: '/api/devportal/match',
    caller: 'sdk',
    base: (x) => ({ descriptor: j(x.descriptor), appId: j('hostile-app') }),
    fields: { descriptor: () => kinds.descriptor(face()), appId: () => kinds.text('hostile-app', 200) },
  },
  {
    method: 'POST',
    path: '/api/devportal/register',
    caller: 'sdk',
    base: (x) => ({ email: j('hostile3@example.com'), fullName: j('Hostile Person'), descriptor: j(x.descriptor), qualityScore: '0.8', appId: j('hostile-app') }),
    fields: {
      email: kinds.email,
      fullName: () => kinds.text('Hostile Person', 200),
      descriptor: () => kinds.descriptor(face()),
      qualityScore: () => kinds.number({ min: 0, max: 1 }),
      appId: () => kinds.text('hostile-app', 200),
    },
  },
  {
    method: 'DELETE',
    path: '/api/devportal/register',
    caller: 'sdk',
    base: (x) => ({ email: j(x.email), appId: j('hostile-app') }),
    fields: { email: kinds.email, appId: () => kinds.text('hostile-app', 200) },
  },
];

const objectOf = (entries: Readonly<Record<string, string>>) => `{${Object.entries(entries).map(([key, raw]) => `${j(key)}:${raw}`).join(',')}}`;
const manyFields = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`f${i}`, '0']));

/** A whole request body (text or bytes) and its headers. */
interface BodyCase {
  readonly title: string;
  readonly route: BodyRoute;
  readonly body: (targets: HostileTargets) => string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  readonly code?: ErrorCode;
  /** The field the error must name. */
  readonly field?: string;
}

/** Breaks the body as a whole: its type, its JSON, its encoding, its media type, its size, its keys. */
const wholeBody = (route: BodyRoute): BodyCase[] => {
  const at = (title: string, body: BodyCase['body'], extra: Partial<BodyCase> = {}): BodyCase => ({ title, route, body, ...extra });
  const base = (x: HostileTargets) => route.base(x);
  const [firstField] = Object.keys(route.fields);
  return [
    ...(['[]', '"text"', '42', 'null', 'true', '[{}]'] as const).map((raw) => at(`the body is ${raw}`, () => raw, { code: 'VALIDATION_ERROR' })),
    at('an unknown field', (x) => objectOf({ ...base(x), nope: '1' }), { code: 'VALIDATION_ERROR', field: 'nope' }),
    at('a __proto__ field', (x) => objectOf({ ...base(x), ['__proto__']: '{"admin":true}' }), { code: 'VALIDATION_ERROR', field: '__proto__' }),
    at('a constructor field', (x) => objectOf({ ...base(x), constructor: '{"prototype":{"polluted":true}}' }), { code: 'VALIDATION_ERROR', field: 'constructor' }),
    at('a prototype field', (x) => objectOf({ ...base(x), prototype: '{"polluted":true}' }), { code: 'VALIDATION_ERROR', field: 'prototype' }),
    at('NUL in a field name', (x) => objectOf({ ...base(x), 'a\u0000b': '1' }), { code: 'VALIDATION_ERROR', field: 'a\\u0000b' }),
    at('a lone surrogate as a field name', (x) => objectOf({ ...base(x), '\ud800': '1' }), { code: 'VALIDATION_ERROR', field: '\\ud800' }),
    at(`${firstField} twice, the last one invalid`, (x) => `${objectOf(base(x)).slice(0, -1)},${j(firstField)}:true}`, { code: 'VALIDATION_ERROR', field: firstField! }),
    at('arrays nested 21 deep in a field', (x) => objectOf({ ...base(x), deep: nested('[', ']', '', 21) }), { code: 'VALIDATION_ERROR', field: 'body' }),
    at('objects nested 30 deep in a field', (x) => objectOf({ ...base(x), deep: nested('{"a":', '}', '1', 30) }), { code: 'VALIDATION_ERROR', field: 'body' }),
    at('arrays nested 100,000 deep', () => nested('[', ']', '', 100_000), { code: 'VALIDATION_ERROR' }),
    at('300 unknown fields', (x) => objectOf({ ...base(x), ...manyFields(300) }), { code: 'VALIDATION_ERROR', field: 'body' }),
    at('40,000 unknown fields', (x) => objectOf({ ...base(x), ...manyFields(40_000) }), { code: 'VALIDATION_ERROR', field: 'body' }),
    at('truncated JSON', (x) => objectOf(base(x)).slice(0, -3), { code: 'VALIDATION_ERROR' }),
    at('trailing garbage', (x) => `${objectOf(base(x))}}x`, { code: 'VALIDATION_ERROR' }),
    at('single quotes', () => "{'a':1}", { code: 'VALIDATION_ERROR' }),
    at('a NaN literal', (x) => objectOf({ ...base(x), [firstField!]: 'NaN' }), { code: 'VALIDATION_ERROR' }),
    at('an Infinity literal', (x) => objectOf({ ...base(x), [firstField!]: 'Infinity' }), { code: 'VALIDATION_ERROR' }),
    at('a comment', (x) => `/* hi */${objectOf(base(x))}`, { code: 'VALIDATION_ERROR' }),
    at('a byte-order mark', (x) => `\ufeff${objectOf(base(x))}`, { code: 'VALIDATION_ERROR' }),
    at('bytes that are not UTF-8', (x) => Buffer.concat([Buffer.from(objectOf(base(x)).slice(0, -1)), Buffer.from(',"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), { code: 'VALIDATION_ERROR' }),
    at('a surrogate encoded as UTF-8 (CESU-8)', (x) => Buffer.concat([Buffer.from(objectOf(base(x)).slice(0, -1)), Buffer.from(',"x":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), { code: 'VALIDATION_ERROR' }),
    at('an empty body', () => '', { code: 'VALIDATION_ERROR' }),
    at('only whitespace', () => '   \n', { code: 'VALIDATION_ERROR' }),
    ...(route.emptyIsValid ? [] : [at('an empty object', () => '{}', { code: 'VALIDATION_ERROR' })]),
    ...['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonx', '*/*'].map((type) =>
      at(`Content-Type ${type}`, (x) => objectOf(base(x)), { headers: { 'content-type': type }, code: 'UNSUPPORTED_MEDIA_TYPE' }),
    ),
    at('no Content-Type', (x) => Buffer.from(objectOf(base(x))), { headers: {}, code: 'UNSUPPORTED_MEDIA_TYPE' }),
    at(`a ${'x'.repeat(10)}… Content-Type of 8 KB`, (x) => objectOf(base(x)), { headers: { 'content-type': `application/${'x'.repeat(8000)}` }, code: 'UNSUPPORTED_MEDIA_TYPE' }),
    ...['gzip', 'br', 'deflate'].map((coding) => at(`Content-Encoding ${coding}`, (x) => objectOf(base(x)), { headers: { 'content-type': 'application/json', 'content-encoding': coding }, code: 'UNSUPPORTED_MEDIA_TYPE' })),
    at('1 MB and one byte without an image', (x) => objectOf({ ...base(x), pad: j('a'.repeat(1024 * 1024)) }), route.path === '/v1/faces/detect' ? {} : { code: 'PAYLOAD_TOO_LARGE' }),
    ...(route.acceptsImage ? [at('8 MB and one byte', () => j({ image: 'a'.repeat(8 * 1024 * 1024) }), { code: 'PAYLOAD_TOO_LARGE' })] : []),
  ];
};

/** Breaks one field at a time. */
const fieldCases = (route: BodyRoute): BodyCase[] =>
  Object.entries(route.fields).flatMap(([field, mutations]) =>
    mutations().map(([label, raw, code]): BodyCase => ({
      title: `${field}: ${label}`,
      route,
      body: (x) => objectOf({ ...route.base(x), [field]: raw }),
      code: code ?? 'VALIDATION_ERROR',
    })),
  );

const cases = routes.flatMap((route) => [...wholeBody(route), ...fieldCases(route)]);

for (const bodyCase of cases) {
  const { route } = bodyCase;
  test.serial(`${route.method} ${route.path}: ${bodyCase.title}`, async (t) => {
    const path = targets.path(route.path);
    const before = await targets.running.service.store.headPosition();
    const response = await fetch(`${targets.running.baseUrl}${path}`, {
      method: route.method,
      headers: { ...targets.auth(route.caller), ...(bodyCase.headers ?? { 'content-type': 'application/json' }) },
      body: bodyCase.body(targets),
    });
    const answer = await fetchedAnswer(response);
    const code = assertRefusal(t, answer, path);
    if (bodyCase.code !== undefined) t.is(code, bodyCase.code, answer.body.subarray(0, 300).toString());
    if (bodyCase.field !== undefined) {
      const body = JSON.parse(answer.body.toString());
      t.is((route.caller === 'sdk' ? body.details : body.error.details).field, bodyCase.field);
    }
    t.is(await targets.running.service.store.headPosition(), before, 'nothing appended');
  });
}

test.serial('every case above is distinct and there are hundreds of them', (t) => {
  t.true(cases.length >= 300, `${cases.length} cases`);
});

test.serial('a webhook with 349,000 empty event names gets one issue in a small body', async (t) => {
  const response = await fetch(`${targets.running.baseUrl}/v1/webhooks`, {
    method: 'POST',
    headers: { ...targets.auth('key'), 'content-type': 'application/json' },
    body: j({ url: 'http://127.0.0.1:9/x', events: new Array(349_000).fill('') }),
  });
  const text = await response.text();
  t.is(response.status, 400);
  t.true(text.length < 1000, `${text.length} bytes`);
  const body = JSON.parse(text);
  t.is(body.error.details.field, 'events');
  t.is(body.error.details.issues.length, 1);
});

test.serial('a descriptor of 128 strings lists 20 issues and counts the rest', async (t) => {
  const response = await fetch(`${targets.running.baseUrl}/v1/faces/identify`, {
    method: 'POST',
    headers: { ...targets.auth('key'), 'content-type': 'application/json' },
    body: j({ descriptor: targets.descriptor.map(String) }),
  });
  const body = (await response.json()) as any;
  t.is(response.status, 400);
  t.is(body.error.details.issues.length, 20);
  t.is(body.error.details.issuesOmitted, 108);
  t.is(body.error.details.issues[0].field, 'descriptor[0]');
});

test.serial('a tenant or key name with NUL or a lone surrogate is refused naming the field, and a clean one still works', async (t) => {
  const admin = { ...targets.auth('admin'), 'content-type': 'application/json' };
  for (const name of ['bad\u0000name', 'bad\ud800name', '\udfffbad']) {
    const tenant = await fetch(`${targets.running.baseUrl}/admin/tenants`, { method: 'POST', headers: admin, body: j({ name }) });
    t.is(tenant.status, 400);
    t.like(await tenant.json(), { error: { code: 'VALIDATION_ERROR', details: { field: 'name', in: 'body' } } });
    const key = await fetch(`${targets.running.baseUrl}/admin/tenants/${targets.tenantId}/keys`, { method: 'POST', headers: admin, body: j({ mode: 'test', name }) });
    t.is(key.status, 400);
    t.like(await key.json(), { error: { code: 'VALIDATION_ERROR', details: { field: 'name' } } });
  }
  const clean = await fetch(`${targets.running.baseUrl}/admin/tenants`, { method: 'POST', headers: admin, body: j({ name: 'Zoë 👩‍💻 tenant' }) });
  t.is(clean.status, 201);
  t.is(((await clean.json()) as any).data.tenant.name, 'Zoë 👩‍💻 tenant');
});
