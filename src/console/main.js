// The console's shell: sign-in, navigation, and a hash router (#/users/usr_…). The hash never holds a secret.
import { ApiError, call, keyMode, saveSession, session } from './api.js';
import { h, show, errorBox, loading } from './ui.js';
import { tenantsPage, tenantPage, keysPage } from './tenants.js';
import { usagePage } from './usage.js';
import { usersPage, userPage } from './users.js';
import { auditPage } from './audit.js';
import { webhooksPage } from './webhooks.js';
import { detectPage } from './detect.js';

const pages = [
  { path: 'tenants', label: 'Tenants', admin: true, render: tenantsPage },
  { path: 'keys', label: 'Keys', admin: true, render: keysPage },
  { path: 'usage', label: 'Usage', admin: true, render: usagePage },
  { path: 'users', label: 'Users', render: usersPage },
  { path: 'audit', label: 'Audit', render: auditPage },
  { path: 'webhooks', label: 'Webhooks', render: webhooksPage },
  { path: 'detect', label: 'Detect', render: detectPage },
];

/** Signs in with a secret: the admin token if /admin accepts it, an API key if /v1 does. */
async function signIn(secret) {
  const mode = keyMode(secret);
  if (mode === undefined) {
    const candidate = { kind: 'admin', secret, mode: 'live' };
    const { tenants } = await call('GET', '/admin/tenants', undefined, { session: candidate });
    return { ...candidate, tenantId: tenants[0]?.id, tenantName: tenants[0]?.name };
  }
  const candidate = { kind: 'key', secret, mode, prefix: secret.slice(0, 12) };
  try {
    await call('GET', '/v1/users?perPage=1', undefined, { session: candidate });
  } catch (error) {
    // A key without users:read is still a key (403); only 401 means it is not one.
    if (!(error instanceof ApiError && error.status === 403)) throw error;
  }
  return candidate;
}

function renderSignIn() {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').replaceChildren();
  document.getElementById('page').replaceChildren();
  document.getElementById('signin').hidden = false;
  document.getElementById('signin-secret').focus();
}

function renderHeader(current) {
  document.getElementById('signin').hidden = true;
  const nav = document.getElementById('nav');
  nav.hidden = false;
  const here = location.hash.replace(/^#\/?/, '').split('?')[0].split('/')[0];
  nav.replaceChildren(...pages.filter((page) => !page.admin || current.kind === 'admin').map((page) => h('a', { href: `#/${page.path}`, class: page.path === here ? 'active' : undefined }, page.label)));
  const who = document.getElementById('who');
  const signOut = h('button', { type: 'button', class: 'link', onclick: () => { saveSession(null); location.hash = '#/'; renderSignIn(); } }, 'Sign out');
  if (current.kind === 'admin') {
    const mode = h('select', { 'aria-label': 'Data set', 'data-testid': 'mode-select', onchange: () => { saveSession({ ...session(), mode: mode.value }); route(); } }, h('option', { value: 'live' }, 'live'), h('option', { value: 'test' }, 'test'));
    mode.value = current.mode ?? 'live';
    who.replaceChildren(h('span', { class: 'badge admin' }, 'operator'), h('span', { 'data-testid': 'acting-tenant' }, current.tenantName ? ` ${current.tenantName}` : ' no tenant'), mode, signOut);
  } else {
    who.replaceChildren(h('span', { class: `badge ${current.mode}` }, `${current.mode} key`), h('code', {}, ` ${current.prefix}…`), signOut);
  }
}

async function route() {
  const current = session();
  if (!current) return renderSignIn();
  renderHeader(current);
  document.getElementById('toast').hidden = true;
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('?')[0].split('/').filter(Boolean).map(decodeURIComponent);
  const fallback = current.kind === 'admin' ? 'tenants' : 'users';
  const page = pages.find((candidate) => candidate.path === (name || fallback));
  if (!page) return show(h('h1', {}, 'Not found'), h('p', {}, 'No such page.'));
  if (page.admin && current.kind !== 'admin') return show(h('h1', {}, page.label), h('p', { class: 'error' }, 'This page needs the operator token (ADMIN_TOKEN); an API key sees its own data set only.'));
  show(loading());
  try {
    if (page.path === 'tenants' && rest[0]) await tenantPage(rest[0]);
    else if (page.path === 'users' && rest[0]) await userPage(rest[0]);
    else await page.render(...rest);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      saveSession(null);
      renderSignIn();
      document.getElementById('signin-error').hidden = false;
      document.getElementById('signin-error').textContent = `Signed out: ${error.message}`;
      return;
    }
    show(h('h1', {}, page.label), errorBox(error));
  }
}

document.getElementById('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('signin-secret');
  const error = document.getElementById('signin-error');
  const button = event.target.querySelector('button');
  error.hidden = true;
  button.disabled = true;
  try {
    saveSession(await signIn(input.value.trim()));
    input.value = '';
    route();
  } catch (failure) {
    error.hidden = false;
    error.textContent = failure instanceof ApiError && failure.status === 404 ? 'The operator API is off (no ADMIN_TOKEN configured); sign in with an API key.' : failure instanceof Error ? failure.message : String(failure);
  } finally {
    button.disabled = false;
  }
});

window.addEventListener('hashchange', route);
route();
