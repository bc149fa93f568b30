// Tenants (plan, settings, this month's usage) and their keys: operator pages (/admin routes).
import { actOn, actingTenant, call, session } from './api.js';
import { h, show, table, formatDate, withProgress, secretOnce, toast, badge, errorBox } from './ui.js';

const settingFields = [
  { name: 'matchThreshold', label: 'Match threshold', step: '0.01', min: 0.35, max: 0.95 },
  { name: 'duplicateThreshold', label: 'Duplicate threshold', step: '0.01', min: 0.5, max: 0.99 },
  { name: 'maxTemplates', label: 'Max templates per user', step: '1', min: 1, max: 100 },
  { name: 'minQuality', label: 'Minimum quality', step: '0.01', min: 0, max: 1 },
  { name: 'logRetentionDays', label: 'Sign-in log retention (days)', step: '1', min: 1, max: 3650 },
  { name: 'inactiveUserErasureMonths', label: 'Erase inactive users after (months, empty: never)', step: '1', min: 1, max: 120, nullable: true },
];
const allScopes = ['faces:register', 'faces:verify', 'faces:identify', 'faces:detect', 'users:read', 'users:delete', 'webhooks:manage'];
const testScopes = allScopes.filter((scope) => scope !== 'users:delete' && scope !== 'webhooks:manage');

export async function tenantsPage() {
  const { tenants } = await call('GET', '/admin/tenants');
  const acting = session().tenantId;
  show(
    h('h1', {}, 'Tenants'),
    h('p', {}, 'Every tenant (app) of this service. Open one to change its plan and settings; the Users, Audit, Webhooks and Detect pages act on the tenant chosen here.'),
    table(
      [
        { label: 'Name', cell: (t) => h('a', { href: `#/tenants/${t.id}`, onclick: () => actOn(t) }, t.name) },
        { label: 'Plan', cell: (t) => badge(t.plan, t.plan) },
        { label: 'Match threshold', cell: (t) => t.settings.matchThreshold },
        { label: 'Max templates', cell: (t) => t.settings.maxTemplates },
        { label: 'Created', cell: (t) => formatDate(t.createdAt) },
        { label: 'Id', cell: (t) => h('code', {}, t.id) },
        { label: '', cell: (t) => (t.id === acting ? badge('acting on', 'ok') : h('button', { type: 'button', onclick: () => { actOn(t); location.hash = `#/tenants/${t.id}`; } }, 'Open')) },
      ],
      tenants,
      { testId: 'tenants-table', empty: 'No tenants yet: create one with `facesmash tenant create` or POST /admin/tenants.' },
    ),
  );
}

export async function tenantPage(tenantId) {
  const tenant = await call('GET', `/admin/tenants/${encodeURIComponent(tenantId)}`);
  actOn(tenant);
  const status = h('div');
  const plan = h('select', { name: 'plan' }, ['free', 'pro', 'enterprise'].map((name) => h('option', { value: name }, name)));
  plan.value = tenant.plan;
  const inputs = settingFields.map((field) => {
    const value = tenant.settings[field.name];
    return { field, input: h('input', { type: 'number', name: field.name, step: field.step, min: field.min, max: field.max, value: value ?? '' }) };
  });
  const save = h('button', { type: 'submit' }, 'Save');
  const form = h(
    'form',
    {
      class: 'settings',
      'data-testid': 'settings-form',
      onsubmit: (event) => {
        event.preventDefault();
        const settings = {};
        for (const { field, input } of inputs) {
          if (input.value === '') {
            if (field.nullable) settings[field.name] = null;
            continue;
          }
          settings[field.name] = Number(input.value);
        }
        void withProgress(save, status, async () => {
          await call('PATCH', `/admin/tenants/${tenant.id}`, { plan: plan.value, settings });
          toast('Settings saved');
          status.replaceChildren(h('p', { class: 'ok' }, 'Saved.'));
        });
      },
    },
    h('label', {}, 'Plan', plan),
    inputs.map(({ field, input }) => h('label', {}, field.label, input)),
    h('div', { class: 'row' }, save),
  );
  show(
    h('h1', {}, tenant.name, ' ', badge(tenant.plan, tenant.plan)),
    h('p', {}, h('code', {}, tenant.id), ` · created ${formatDate(tenant.createdAt)} · this month (${tenant.usage.month}): ${tenant.usage.live} live and ${tenant.usage.test} test requests · `, h('a', { href: '#/keys' }, 'keys'), ' · ', h('a', { href: '#/usage' }, 'usage chart'), ' · ', h('a', { href: '#/users' }, 'users')),
    h('h2', {}, 'Plan and settings'),
    status,
    form,
  );
}

export async function keysPage() {
  const tenantId = actingTenant();
  const [tenant, { keys }] = await Promise.all([call('GET', `/admin/tenants/${tenantId}`), call('GET', `/admin/tenants/${tenantId}/keys`)]);
  const status = h('div');
  const issued = h('div', { 'data-testid': 'issued-key' });
  const mode = h('select', { name: 'mode' }, h('option', { value: 'live' }, 'live'), h('option', { value: 'test' }, 'test'));
  const name = h('input', { name: 'name', placeholder: 'web sign-in', maxlength: 200 });
  const origins = h('input', { name: 'allowedOrigins', placeholder: 'https://app.example.com (comma-separated, optional)' });
  const scopeBoxes = allScopes.map((scope) => ({ scope, box: h('input', { type: 'checkbox', value: scope, checked: true }) }));
  const syncScopes = () => {
    for (const { scope, box } of scopeBoxes) {
      const allowed = mode.value === 'live' || testScopes.includes(scope);
      box.disabled = !allowed;
      if (!allowed) box.checked = false;
    }
  };
  mode.addEventListener('change', syncScopes);
  const issue = h('button', { type: 'submit' }, 'Issue key');
  const form = h(
    'form',
    {
      class: 'inline-form',
      'data-testid': 'issue-key-form',
      onsubmit: (event) => {
        event.preventDefault();
        const body = { mode: mode.value, scopes: scopeBoxes.filter(({ box }) => box.checked).map(({ scope }) => scope) };
        if (name.value.trim() !== '') body.name = name.value.trim();
        const originList = origins.value.split(',').map((origin) => origin.trim()).filter(Boolean);
        if (originList.length > 0) body.allowedOrigins = originList;
        void withProgress(issue, status, async () => {
          const key = await call('POST', `/admin/tenants/${tenantId}/keys`, body);
          await keysPage();
          document.querySelector('[data-testid="issued-key"]').replaceChildren(secretOnce(`New ${key.mode} key ${key.prefix}… (${key.id})`, key.key));
        });
      },
    },
    h('label', {}, 'Mode', mode),
    h('label', {}, 'Name', name),
    h('fieldset', {}, h('legend', {}, 'Scopes'), scopeBoxes.map(({ scope, box }) => h('label', { class: 'check' }, box, scope))),
    h('label', { class: 'wide' }, 'Allowed browser origins', origins),
    h('div', { class: 'row' }, issue),
  );
  const editOrigins = (key) => {
    const field = h('input', { value: key.allowedOrigins.join(', '), 'aria-label': `Allowed origins of ${key.prefix}` });
    const saveButton = h('button', { type: 'button' }, 'Save origins');
    saveButton.addEventListener('click', () =>
      withProgress(saveButton, status, async () => {
        await call('PATCH', `/admin/keys/${key.id}`, { allowedOrigins: field.value.split(',').map((origin) => origin.trim()).filter(Boolean) });
        toast('Origins saved');
        await keysPage();
      }),
    );
    return h('div', { class: 'row' }, field, saveButton);
  };
  const revoke = (key) => {
    const button = h('button', { type: 'button', class: 'danger', 'data-testid': `revoke-${key.id}` }, 'Revoke');
    button.addEventListener('click', () => {
      if (!window.confirm(`Revoke the ${key.mode} key ${key.prefix}… (${key.name})? Requests with it are refused at once.`)) return;
      void withProgress(button, status, async () => {
        await call('DELETE', `/admin/keys/${key.id}`);
        toast(`Key ${key.prefix}… revoked`);
        await keysPage();
      });
    });
    return button;
  };
  show(
    h('h1', {}, `Keys of ${tenant.name}`),
    issued,
    status,
    h('h2', {}, 'Issue a key'),
    form,
    h('h2', {}, 'Keys'),
    table(
      [
        { label: 'Prefix', cell: (k) => h('code', {}, `${k.prefix}…`) },
        { label: 'Name', cell: (k) => k.name },
        { label: 'Mode', cell: (k) => badge(k.mode, k.mode) },
        { label: 'Status', cell: (k) => badge(k.status, k.status === 'active' ? 'ok' : 'bad') },
        { label: 'Scopes', cell: (k) => h('span', { class: 'small' }, k.scopes.join(' ')) },
        { label: 'Allowed origins', cell: (k) => (k.status === 'active' ? editOrigins(k) : k.allowedOrigins.join(', ') || '—') },
        { label: 'Created', cell: (k) => formatDate(k.createdAt) },
        { label: 'Expires', cell: (k) => formatDate(k.expiresAt) },
        { label: '', cell: (k) => (k.status === 'active' ? revoke(k) : formatDate(k.revokedAt)) },
      ],
      keys,
      { testId: 'keys-table' },
    ),
  );
  syncScopes();
}

export { errorBox };
