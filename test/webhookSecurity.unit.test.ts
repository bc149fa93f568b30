import test from 'ava';
import { hasCode } from '../src/errors/appError.ts';
import { assertDeliverableUrl, guardedLookup, isInternalAddress, type Resolver } from '../src/webhooks/addressPolicy.ts';
import { signatureHeaders, signBody, signPayload, verifySignature, verifyTimestampedSignature } from '../src/webhooks/signature.ts';

const resolvesTo = (...addresses: string[]): Resolver => async () => addresses;
const neverResolve: Resolver = async (host) => {
  throw new Error(`no lookup expected for ${host}`);
};

const internal = [
  '127.0.0.1', '127.255.255.254', '::1', '0.0.0.0', '::', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.10',
  '169.254.169.254', '169.254.0.1', '100.64.0.1', '100.127.255.255', '224.0.0.1', '239.255.255.250', '255.255.255.255', '240.0.0.1',
  '192.0.2.1', '198.18.0.1', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1',
  '::ffff:10.0.0.1', '::ffff:169.254.169.254', '::127.0.0.1', '64:ff9b::a00:1', '2002:7f00:1::1', '2001:db8::1', 'not an ip', '',
];
const external = ['8.8.8.8', '1.1.1.1', '93.184.215.14', '100.128.0.1', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '64:ff9b::808:808'];

test('isInternalAddress flags loopback, private, link-local, metadata, CGNAT, multicast, reserved and their IPv6 forms', (t) => {
  for (const ip of internal) t.true(isInternalAddress(ip), ip);
  for (const ip of external) t.false(isInternalAddress(ip), ip);
});

async function refusal(t: import('ava').ExecutionContext, promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await t.throwsAsync(promise);
  t.true(hasCode(error, 'VALIDATION_ERROR'));
  t.is((error as unknown as { details: { field: string } }).details.field, 'url');
  t.regex(error!.message, message);
}

test('assertDeliverableUrl accepts an https URL on any port whose host resolves only to public addresses', async (t) => {
  const url = await assertDeliverableUrl('https://hooks.example.com:8443/facesmash?x=1', { allowPrivate: false, resolve: resolvesTo('93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c') });
  t.is(url.host, 'hooks.example.com:8443');
  t.is((await assertDeliverableUrl('https://93.184.215.14/hook', { allowPrivate: false, resolve: neverResolve })).hostname, '93.184.215.14');
});

test('assertDeliverableUrl refuses plain http, credentials and non-URLs without private access', async (t) => {
  await refusal(t, assertDeliverableUrl('http://hooks.example.com/', { allowPrivate: false, resolve: resolvesTo('93.184.215.14') }), /^url: must use https$/);
  await refusal(t, assertDeliverableUrl('ftp://hooks.example.com/', { allowPrivate: true }), /https or http/);
  await refusal(t, assertDeliverableUrl('https://user:pw@hooks.example.com/', { allowPrivate: false, resolve: resolvesTo('93.184.215.14') }), /credentials/);
  await refusal(t, assertDeliverableUrl('https://user@hooks.example.com/', { allowPrivate: true }), /credentials/);
  await refusal(t, assertDeliverableUrl('/relative', { allowPrivate: false }), /absolute URL/);
  await refusal(t, assertDeliverableUrl(`https://example.com/${'a'.repeat(3000)}`, { allowPrivate: false }), /at most/);
});

test('assertDeliverableUrl refuses a host when any of its addresses is internal', async (t) => {
  await refusal(t, assertDeliverableUrl('https://hooks.example.com/', { allowPrivate: false, resolve: resolvesTo('93.184.215.14', '10.0.0.1') }), /loopback, private/);
  await refusal(t, assertDeliverableUrl('https://metadata.example.com/', { allowPrivate: false, resolve: resolvesTo('169.254.169.254') }), /loopback, private/);
  await refusal(t, assertDeliverableUrl('https://mapped.example.com/', { allowPrivate: false, resolve: resolvesTo('::ffff:127.0.0.1') }), /loopback, private/);
  await refusal(t, assertDeliverableUrl('https://nowhere.example.com/', { allowPrivate: false, resolve: resolvesTo() }), /does not resolve/);
  await refusal(t, assertDeliverableUrl('https://nowhere.example.com/', { allowPrivate: false, resolve: async () => Promise.reject(new Error('ENOTFOUND')) }), /does not resolve/);
  const error = await t.throwsAsync(assertDeliverableUrl('https://hooks.example.com/', { allowPrivate: false, resolve: resolvesTo('10.1.2.3') }));
  t.false(error!.message.includes('10.1.2.3'), 'the resolved address is not echoed');
});

test('assertDeliverableUrl refuses literal internal IPs in every spelling the URL parser accepts', async (t) => {
  for (const url of [
    'https://127.0.0.1/', 'https://127.1/', 'https://0x7f.0.0.1/', 'https://2130706433/', 'https://0177.0.0.1/', 'https://[::1]/', 'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:a9fe:a9fe]/', 'https://169.254.169.254/latest/meta-data/', 'https://0.0.0.0/', 'https://[::]/', 'https://[fe80::1]/', 'https://100.64.1.1/',
  ]) {
    await refusal(t, assertDeliverableUrl(url, { allowPrivate: false, resolve: neverResolve }), /loopback, private/);
  }
});

test('assertDeliverableUrl lets private and loopback targets and plain http through when allowPrivate is set', async (t) => {
  t.is((await assertDeliverableUrl('http://127.0.0.1:3000/hook', { allowPrivate: true, resolve: neverResolve })).port, '3000');
  t.is((await assertDeliverableUrl('https://internal.corp/hook', { allowPrivate: true, resolve: neverResolve })).hostname, 'internal.corp');
});

function lookupOnce(lookup: ReturnType<typeof guardedLookup>, host: string, options: { all?: boolean; family?: number }): Promise<{ error: Error | null; result: unknown }> {
  return new Promise((resolve) => {
    (lookup as unknown as (h: string, o: object, cb: (error: Error | null, ...rest: unknown[]) => void) => void)(host, options, (error, ...rest) =>
      resolve({ error, result: rest.length > 1 ? { address: rest[0], family: rest[1] } : rest[0] }),
    );
  });
}

test('the connect-time lookup re-checks what DNS answers now (rebinding) and speaks both callback shapes', async (t) => {
  let answers = [['93.184.215.14'], ['127.0.0.1']];
  const rebinding: Resolver = async () => answers.shift() ?? [];
  const lookup = guardedLookup({ allowPrivate: false, resolve: rebinding });
  t.deepEqual((await lookupOnce(lookup, 'rebind.example.com', { all: true })).result, [{ address: '93.184.215.14', family: 4 }]);
  const second = await lookupOnce(lookup, 'rebind.example.com', { all: true });
  t.regex(second.error?.message ?? '', /internal address/);

  answers = [['2606:4700:4700::1111', '1.1.1.1']];
  t.deepEqual((await lookupOnce(lookup, 'dual.example.com', { family: 4 })).result, { address: '1.1.1.1', family: 4 });
  t.regex((await lookupOnce(lookup, '10.0.0.1', { all: true })).error?.message ?? '', /internal/);
  const open = guardedLookup({ allowPrivate: true, resolve: resolvesTo('10.0.0.1') });
  t.deepEqual((await lookupOnce(open, 'inside.corp', { all: true })).result, [{ address: '10.0.0.1', family: 4 }]);
});

test('a signature made by signPayload verifies, and any change to secret, body, timestamp or signature fails', (t) => {
  const body = '{"id":"evt_1","event":"face.verified"}';
  const now = 1_780_000_000;
  const signature = signPayload('whsec_test', now, body);
  t.regex(signature, /^[0-9a-f]{64}$/);
  t.true(verifySignature('whsec_test', now, body, signature, { now }));
  t.true(verifySignature('whsec_test', String(now), body, signature.toUpperCase(), { now: now + 299 }), 'header strings and upper-case hex are fine');
  t.false(verifySignature('whsec_other', now, body, signature, { now }));
  t.false(verifySignature('whsec_test', now, `${body} `, signature, { now }));
  t.false(verifySignature('whsec_test', now + 1, body, signature, { now }));
  t.false(verifySignature('whsec_test', now, body, signature.slice(0, 63), { now }));
  const flipped = signature.slice(0, 63) + (signature.endsWith('0') ? '1' : '0');
  t.false(verifySignature('whsec_test', now, body, flipped, { now }));
  t.false(verifySignature('whsec_test', '12abc', body, signature, { now }));
});

test('verifySignature rejects timestamps older (or further ahead) than the tolerance, 5 minutes by default', (t) => {
  const body = '{}';
  const signedAt = 1_780_000_000;
  const signature = signPayload('s', signedAt, body);
  t.true(verifySignature('s', signedAt, body, signature, { now: signedAt + 300 }));
  t.false(verifySignature('s', signedAt, body, signature, { now: signedAt + 301 }));
  t.false(verifySignature('s', signedAt, body, signature, { now: signedAt - 301 }));
  t.true(verifySignature('s', signedAt, body, signature, { now: signedAt + 3000, toleranceSeconds: 3600 }));
  t.false(verifySignature('s', signedAt, body, signature), 'the default clock is now, long after the signature');
});

test('the X-FaceSmash-Signature-256 header verifies as t=<timestamp>,v1=<hex>; anything else does not', (t) => {
  const now = 1_790_000_000;
  const body = '{"id":"evt_1","event":"face.verified"}';
  const headers = signatureHeaders('whsec_test', now, body);
  t.is(headers['X-FaceSmash-Signature'], signBody('whsec_test', body));
  t.is(headers['X-FaceSmash-Timestamp'], String(now));
  const header = headers['X-FaceSmash-Signature-256']!;
  t.true(verifyTimestampedSignature('whsec_test', header, body, { now }));
  t.true(verifyTimestampedSignature('whsec_test', header.replace(',', ', '), body, { now }), 'a space after the comma is fine');
  t.false(verifyTimestampedSignature('whsec_test', header, `${body} `, { now }));
  t.false(verifyTimestampedSignature('whsec_test', header, body, { now: now + 301 }), 'a replay after five minutes');
  t.false(verifyTimestampedSignature('whsec_test', header.replace(/t=\d+/, `t=${now + 1}`), body, { now }), 'the timestamp is signed too');
  for (const broken of ['', 'v1=abc', `t=${now}`, 'garbage', headers['X-FaceSmash-Signature']!]) t.false(verifyTimestampedSignature('whsec_test', broken, body, { now }), broken);
});
