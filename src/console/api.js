// The session and every call to the API. The secret lives in sessionStorage (this tab only) and
// goes out as a header; it is never written to a URL, the page or the console log.

const storageKey = 'facesmash.console.session';

/** An API error: the envelope's code and message, and the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

/** The signed-in session: `{ kind: 'admin', secret, tenantId?, mode }` or `{ kind: 'key', secret, mode }`. */
export function session() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(storageKey) ?? 'null');
    return stored && typeof stored.secret === 'string' ? stored : null;
  } catch {
    return null;
  }
}

export function saveSession(value) {
  if (value === null) sessionStorage.removeItem(storageKey);
  else sessionStorage.setItem(storageKey, JSON.stringify(value));
}

/** The mode a key is for, from its prefix (fs_live_ / fs_test_); undefined for anything else. */
export function keyMode(secret) {
  if (secret.startsWith('fs_live_')) return 'live';
  if (secret.startsWith('fs_test_')) return 'test';
  return undefined;
}

/** Calls one API route and answers the envelope's `data`; throws ApiError with the API's message. */
export async function call(method, path, body, options = {}) {
  const current = options.session ?? session();
  const headers = { Accept: 'application/json' };
  if (current) headers.Authorization = `Bearer ${current.secret}`;
  // The operator acts on one tenant's data through the same /v1 routes a key uses.
  if (current?.kind === 'admin' && path.startsWith('/v1/')) {
    if (!current.tenantId) throw new ApiError(0, 'NO_TENANT', 'choose a tenant first (Tenants page)');
    headers['X-Operator-Tenant'] = current.tenantId;
    headers['X-Operator-Mode'] = current.mode ?? 'live';
  }
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `the service did not answer (${error instanceof Error ? error.message : String(error)})`);
  }
  let parsed;
  try {
    parsed = await response.json();
  } catch {
    throw new ApiError(response.status, 'NOT_JSON', `the service answered ${response.status} without JSON`);
  }
  if (!response.ok || parsed?.success === false) {
    const error = parsed?.error ?? {};
    throw new ApiError(response.status, error.code ?? 'ERROR', error.message ?? `the service answered ${response.status}`, error.details);
  }
  return parsed.data;
}

/** Reads every page of a paginated list, up to `maxItems`, reporting progress as pages arrive. */
export async function collect(path, field, { perPage = 100, maxItems = 1000, onProgress } = {}) {
  const items = [];
  for (let page = 1; ; page += 1) {
    const separator = path.includes('?') ? '&' : '?';
    const data = await call('GET', `${path}${separator}page=${page}&perPage=${perPage}`);
    items.push(...data[field]);
    onProgress?.(items.length, data.totalItems);
    if (page >= data.totalPages || items.length >= maxItems) return { items, totalItems: data.totalItems };
  }
}

/** Makes the operator act on this tenant (admin sessions): the /v1 pages then show its data. */
export function actOn(tenant) {
  const current = session();
  if (current?.kind === 'admin') saveSession({ ...current, tenantId: tenant.id, tenantName: tenant.name });
}

/** The tenant an admin session acts on; throws a clear error when none is chosen. */
export function actingTenant() {
  const current = session();
  if (current?.kind !== 'admin' || !current.tenantId) throw new ApiError(0, 'NO_TENANT', 'choose a tenant first (Tenants page)');
  return current.tenantId;
}
