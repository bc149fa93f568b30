import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { AppError } from '../errors/appError.ts';

/** Resolves a host name to every address it has (IPv4 and IPv6). */
export type Resolver = (host: string) => Promise<string[]>;

export interface AddressPolicyOptions {
  /** Let webhooks target loopback/private addresses and plain http (WEBHOOK_ALLOW_PRIVATE, tests). */
  readonly allowPrivate: boolean;
  /** Injected in tests; the default asks the system resolver (`dns.lookup`, all addresses). */
  readonly resolve?: Resolver;
}

export const systemResolver: Resolver = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

const maxUrlLength = 2048;

/**
 * Checks a webhook URL before it is stored and again before each delivery: https only (http only
 * when private targets are allowed), no credentials, and — unless allowPrivate — a host whose
 * every resolved address is public. Throws VALIDATION_ERROR naming the field `url`.
 */
export async function assertDeliverableUrl(url: string, options: AddressPolicyOptions): Promise<URL> {
  if (typeof url !== 'string' || url.length === 0) refuse('must be a URL');
  if (url.length > maxUrlLength) refuse(`must be at most ${maxUrlLength} characters`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    refuse('must be an absolute URL');
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && options.allowPrivate)) {
    refuse(options.allowPrivate ? 'must use https or http' : 'must use https');
  }
  if (parsed.username !== '' || parsed.password !== '') refuse('must not contain credentials');
  const host = bareHost(parsed.hostname);
  if (host === '') refuse('must name a host');
  if (options.allowPrivate) return parsed;

  // WHATWG URL has already normalised IPv4 spellings (0x7f.1, 2130706433, 127.1) to dotted quads.
  if (isIP(host) !== 0) {
    if (isInternalAddress(host)) refuse(internalMessage);
    return parsed;
  }
  let addresses: string[];
  try {
    addresses = await (options.resolve ?? systemResolver)(host);
  } catch (error) {
    refuse('host does not resolve', error);
  }
  if (addresses.length === 0) refuse('host does not resolve');
  // Any internal address refuses the whole host: a client may connect to any of them.
  if (addresses.some(isInternalAddress)) refuse(internalMessage);
  return parsed;
}

const internalMessage = 'resolves to a loopback, private, link-local or reserved address';

function refuse(message: string, cause?: unknown): never {
  // The resolved addresses are deliberately not echoed: the API must not become a DNS oracle for the internal network.
  throw new AppError('VALIDATION_ERROR', `url: ${message}`, { field: 'url', in: 'body', issues: [{ field: 'url', message }] }, cause === undefined ? undefined : { cause });
}

/** `[::1]` → `::1`; a zone id (`fe80::1%eth0`) is dropped. */
function bareHost(hostname: string): string {
  const unbracketed = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const zone = unbracketed.indexOf('%');
  return zone >= 0 ? unbracketed.slice(0, zone) : unbracketed;
}

interface Cidr {
  readonly base: bigint;
  readonly bits: number;
}

function cidr4(text: string): Cidr {
  const [address, bits] = text.split('/');
  return { base: parseIPv4(address!)!, bits: Number(bits) };
}

function cidr6(text: string): Cidr {
  const [address, bits] = text.split('/');
  return { base: parseIPv6(address!)!, bits: Number(bits) };
}

function inCidr(value: bigint, range: Cidr, width: number): boolean {
  const shift = BigInt(width - range.bits);
  return value >> shift === range.base >> shift;
}

/** IPv4 ranges that are not the public internet (IANA special-purpose registry). */
const internal4: readonly Cidr[] = [
  '0.0.0.0/8', // "this network", incl. 0.0.0.0
  '10.0.0.0/8',
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8',
  '169.254.0.0/16', // link-local, incl. 169.254.169.254 cloud metadata
  '172.16.0.0/12',
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // documentation
  '192.88.99.0/24', // 6to4 relay anycast
  '192.168.0.0/16',
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // documentation
  '203.0.113.0/24', // documentation
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, incl. 255.255.255.255
].map(cidr4);

/** IPv6 ranges inside global unicast (2000::/3) that are still not ordinary public hosts. */
const internal6: readonly Cidr[] = [
  '2001::/23', // IETF protocol assignments (Teredo, benchmarking, ORCHID)
  '2001:db8::/32', // documentation
  '3fff::/20', // documentation
].map(cidr6);

const globalUnicast6 = cidr6('2000::/3');
/** Forms that carry an IPv4 address in their low 32 bits: the IPv4 rules apply to it. */
const mapped6 = cidr6('::ffff:0:0/96');
const nat64 = cidr6('64:ff9b::/96');
const sixToFour = cidr6('2002::/16');

/**
 * True when `ip` is loopback, private, link-local (incl. cloud metadata), unspecified, CGNAT,
 * multicast, documentation or otherwise reserved — or an IPv6 form carrying such an IPv4 address
 * (::ffff:127.0.0.1, 64:ff9b::a00:1, 2002:7f00:1::). Anything that does not parse counts as internal.
 */
export function isInternalAddress(ip: string): boolean {
  const host = bareHost(ip.trim());
  const v4 = parseIPv4(host);
  if (v4 !== undefined) return internal4.some((range) => inCidr(v4, range, 32));
  const v6 = parseIPv6(host);
  if (v6 === undefined) return true;
  if (inCidr(v6, mapped6, 128) || inCidr(v6, nat64, 128)) return isInternal4(v6 & 0xffffffffn);
  if (inCidr(v6, sixToFour, 128)) return isInternal4((v6 >> 80n) & 0xffffffffn);
  // Outside 2000::/3 is everything else: ::, ::1, IPv4-compatible ::/96, ULA fc00::/7,
  // link-local fe80::/10, site-local fec0::/10, multicast ff00::/8, discard 100::/64.
  if (!inCidr(v6, globalUnicast6, 128)) return true;
  return internal6.some((range) => inCidr(v6, range, 128));
}

function isInternal4(value: bigint): boolean {
  return internal4.some((range) => inCidr(value, range, 32));
}

function parseIPv4(text: string): bigint | undefined {
  if (isIP(text) !== 4) return undefined;
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseIPv6(text: string): bigint | undefined {
  if (isIP(text) !== 6) return undefined;
  let words = text;
  const lastColon = words.lastIndexOf(':');
  const tail = words.slice(lastColon + 1);
  if (tail.includes('.')) {
    // A dotted IPv4 tail (::ffff:127.0.0.1) becomes its two hex words (::ffff:7f00:1).
    const v4 = parseIPv4(tail);
    if (v4 === undefined) return undefined;
    words = `${words.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const toWords = (part: string) => (part === '' ? [] : part.split(':').map((word) => BigInt(Number.parseInt(word, 16))));
  const halves = words.split('::');
  const front = toWords(halves[0] ?? '');
  const back = halves.length > 1 ? toWords(halves[1] ?? '') : [];
  const all = halves.length > 1 ? [...front, ...Array<bigint>(8 - front.length - back.length).fill(0n), ...back] : front;
  if (all.length !== 8) return undefined;
  return all.reduce((acc, word) => (acc << 16n) | word, 0n);
}

/**
 * A `lookup` for `http.request`/`net.connect` (and undici's `connect.lookup`) that checks the
 * addresses it hands to the socket. The URL check runs earlier, but DNS can answer differently at
 * connect time (rebinding), so this is the check that actually guards the connection.
 */
export function guardedLookup(options: AddressPolicyOptions): LookupFunction {
  const resolve = options.resolve ?? systemResolver;
  return ((hostname: string, lookupOptions: { family?: number | string; all?: boolean } | number | undefined, callback: (...args: unknown[]) => void) => {
    const opts = typeof lookupOptions === 'object' && lookupOptions !== null ? lookupOptions : { family: lookupOptions };
    const wanted = opts.family === 4 || opts.family === 'IPv4' ? 4 : opts.family === 6 || opts.family === 'IPv6' ? 6 : 0;
    const host = bareHost(hostname);
    const found = isIP(host) !== 0 ? Promise.resolve([host]) : resolve(host);
    found.then(
      (addresses) => {
        if (!options.allowPrivate && addresses.some(isInternalAddress)) {
          callback(Object.assign(new Error(`webhook host ${hostname} resolves to an internal address`), { code: 'EADDRREFUSED_BY_POLICY' }));
          return;
        }
        const entries = addresses.map((address) => ({ address, family: isIP(address) })).filter((entry) => entry.family !== 0 && (wanted === 0 || entry.family === wanted));
        if (entries.length === 0) {
          callback(Object.assign(new Error(`webhook host ${hostname} has no usable address`), { code: 'ENOTFOUND' }));
          return;
        }
        if (opts.all) callback(null, entries);
        else callback(null, entries[0]!.address, entries[0]!.family);
      },
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  }) as LookupFunction;
}
