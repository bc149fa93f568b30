// Users: exact email search, a paginated list, and a user's page (templates, sign-ins, erasure).
import { call, collect } from './api.js';
import { timeChart, seconds, daysBetween } from './charts.js';
import { h, show, table, formatDate, percent, number, withProgress, confirmTyped, toast, errorBox, loading, badge } from './ui.js';

export async function usersPage() {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const page = Number(params.get('page') ?? 1) || 1;
  const sort = params.get('sort') ?? '-createdAt';
  const email = params.get('email') ?? '';
  const query = new URLSearchParams({ page: String(page), perPage: '20', sort });
  if (email) query.set('email', email);
  const data = await call('GET', `/v1/users?${query}`);
  const go = (changes) => {
    const next = new URLSearchParams({ page: String(page), sort, ...(email ? { email } : {}), ...changes });
    if (!next.get('email')) next.delete('email');
    location.hash = `#/users?${next}`;
  };
  const search = h('input', { type: 'search', name: 'email', placeholder: 'exact email, e.g. ada@example.com', value: email, 'data-testid': 'email-search' });
  const sortSelect = h('select', { 'aria-label': 'Sort', onchange: () => go({ sort: sortSelect.value, page: '1' }) }, [
    ['-createdAt', 'newest first'],
    ['createdAt', 'oldest first'],
    ['-lastLogin', 'last sign-in, recent first'],
    ['lastLogin', 'last sign-in, oldest first'],
  ].map(([value, label]) => h('option', { value }, label)));
  sortSelect.value = sort;
  show(
    h('h1', {}, 'Users'),
    h(
      'form',
      { class: 'row search', onsubmit: (event) => { event.preventDefault(); go({ email: search.value.trim(), page: '1' }); } },
      search,
      h('button', { type: 'submit' }, 'Search'),
      email ? h('button', { type: 'button', onclick: () => go({ email: '', page: '1' }) }, 'Clear') : null,
      sortSelect,
    ),
    h('p', { class: 'small' }, 'Emails are stored encrypted, so search matches a whole email exactly (case-insensitive), not a part of one.'),
    table(
      [
        { label: 'Email', cell: (u) => h('a', { href: `#/users/${u.id}` }, u.email) },
        { label: 'Templates', cell: (u) => u.templateCount },
        { label: 'Sign-ins', cell: (u) => u.loginCount },
        { label: 'Success rate', cell: (u) => percent(u.successRate) },
        { label: 'Last sign-in', cell: (u) => formatDate(u.lastLogin) },
        { label: 'Created', cell: (u) => formatDate(u.createdAt) },
      ],
      data.users,
      { testId: 'users-table', empty: email ? `No user has the email ${email}.` : 'No users yet.', pager: { page: data.page, totalPages: data.totalPages, totalItems: data.totalItems, go: (next) => go({ page: String(next) }) } },
    ),
  );
}

/** Successes and failures per UTC day, and similarity over time, from the sign-in logs. */
function signInCharts(logs, threshold) {
  const byDay = new Map();
  for (const log of logs) {
    const day = log.createdAt.slice(0, 10);
    const entry = byDay.get(day) ?? { success: 0, failure: 0 };
    entry[log.success ? 'success' : 'failure'] += 1;
    byDay.set(day, entry);
  }
  // Every day from the first attempt shown (at least two weeks back) to today, zero where none.
  const today = new Date().toISOString().slice(0, 10);
  const firstSeen = [...byDay.keys()].sort()[0] ?? today;
  const twoWeeksAgo = new Date(Date.now() - 13 * 86_400_000).toISOString().slice(0, 10);
  const days = daysBetween(firstSeen < twoWeeksAgo ? firstSeen : twoWeeksAgo, today);
  for (const day of days) if (!byDay.has(day)) byDay.set(day, { success: 0, failure: 0 });
  const chronological = [...logs].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return h(
    'div',
    { class: 'charts' },
    timeChart({
      title: 'Sign-ins per day (UTC)',
      x: days.map(seconds),
      series: [
        { label: 'successes', values: days.map((day) => byDay.get(day).success), bars: true, color: '#16a34a' },
        { label: 'failures', values: days.map((day) => byDay.get(day).failure), bars: true, color: '#dc2626' },
      ],
      testId: 'signin-days-chart',
      bucket: 86_400,
    }),
    timeChart({
      title: 'Similarity of each attempt',
      x: chronological.map((log) => Date.parse(log.createdAt) / 1000),
      series: [
        { label: 'similarity', values: chronological.map((log) => log.confidence), color: '#2563eb' },
        { label: `match threshold ${threshold}`, values: chronological.map(() => threshold), color: '#dc2626', dash: [6, 4], points: false },
      ],
      yRange: [0, 1],
      testId: 'signin-similarity-chart',
    }),
  );
}

export async function userPage(userId) {
  const [user, templates] = await Promise.all([call('GET', `/v1/users/${encodeURIComponent(userId)}`), call('GET', `/v1/faces/templates/${encodeURIComponent(userId)}`)]);
  const status = h('div');
  const chartsSlot = h('div', {}, loading('Reading sign-in history'));
  const logsSlot = h('div');
  const eraseButton = h('button', { type: 'button', class: 'danger', 'data-testid': 'erase-user' }, 'Erase this user…');
  const receiptSlot = h('div', { 'data-testid': 'erasure-receipt' });
  eraseButton.addEventListener('click', async () => {
    const confirmed = await confirmTyped({
      title: `Erase ${user.email}?`,
      text: `This erases ${user.email}: profile, ${user.templateCount} template(s) and every sign-in log, for good (their key is destroyed). A receipt is added to the tenant's erasure chain.`,
      expected: user.email,
      action: `Erase ${user.email}`,
    });
    if (!confirmed) return;
    await withProgress(eraseButton, status, async () => {
      const result = await call('DELETE', `/v1/users/${user.id}`);
      const erasures = await call('GET', '/v1/erasures?perPage=1');
      receiptSlot.replaceChildren(receiptView(result.receipt, erasures.chain));
      eraseButton.remove();
      toast(`${user.email} erased`);
    });
  });
  const deleteTemplate = (template) => {
    const button = h('button', { type: 'button', class: 'danger small' }, 'Delete');
    button.addEventListener('click', () => {
      if (!window.confirm(`Delete template ${template.id} of ${user.email}?`)) return;
      void withProgress(button, status, async () => {
        await call('DELETE', `/v1/faces/templates/${template.id}`);
        toast('Template deleted');
        await userPage(user.id);
      });
    });
    return button;
  };
  show(
    h('h1', { 'data-testid': 'user-email' }, user.email),
    h('p', {}, h('code', {}, user.id), ` · created ${formatDate(user.createdAt)} · `, h('a', { href: `#/audit/${user.id}` }, 'audit history')),
    h(
      'div',
      { class: 'stats' },
      h('div', {}, h('span', {}, 'Sign-ins'), h('strong', {}, `${user.loginCount}`)),
      h('div', {}, h('span', {}, 'Successes / failures'), h('strong', {}, `${user.successfulLogins} / ${user.failedLogins}`)),
      h('div', {}, h('span', {}, 'Success rate'), h('strong', {}, percent(user.successRate))),
      h('div', {}, h('span', {}, 'Last sign-in'), h('strong', {}, formatDate(user.lastLogin))),
      h('div', {}, h('span', {}, 'Average quality'), h('strong', {}, number(user.avgQualityScore, 2))),
      h('div', {}, h('span', {}, 'Match threshold'), h('strong', {}, number(user.confidenceThreshold, 2))),
    ),
    status,
    h('h2', {}, `Templates (${templates.totalTemplates} of at most ${templates.maxTemplates})`),
    table(
      [
        { label: 'Template', cell: (t) => h('code', {}, t.id) },
        { label: 'Quality', cell: (t) => number(t.qualityScore, 2) },
        { label: 'Used', cell: (t) => t.usageCount },
        { label: 'Last used', cell: (t) => formatDate(t.lastUsed) },
        { label: 'Added', cell: (t) => formatDate(t.createdAt) },
        { label: '', cell: deleteTemplate },
      ],
      templates.templates,
      { testId: 'templates-table' },
    ),
    h('h2', {}, 'Sign-in history'),
    chartsSlot,
    logsSlot,
    h('h2', {}, 'Erasure'),
    eraseButton,
    receiptSlot,
  );
  // The charts read up to 1000 attempts, page by page, with progress.
  collect(`/v1/users/${user.id}/logs`, 'logs', {
    onProgress: (done, total) => chartsSlot.replaceChildren(loading(`Reading sign-in history: ${done} of ${total}`)),
  }).then(
    ({ items, totalItems }) => chartsSlot.replaceChildren(items.length === 0 ? h('p', {}, 'No sign-in attempts yet.') : signInCharts(items, user.confidenceThreshold), items.length < totalItems ? h('p', { class: 'small' }, `Charts show the newest ${items.length} of ${totalItems} attempts.`) : ''),
    (error) => chartsSlot.replaceChildren(errorBox(error)),
  );
  await logsTable(user.id, 1, logsSlot);
}

async function logsTable(userId, page, slot) {
  const data = await call('GET', `/v1/users/${userId}/logs?page=${page}&perPage=20`);
  slot.replaceChildren(
    table(
      [
        { label: 'When', cell: (log) => formatDate(log.createdAt) },
        { label: 'Outcome', cell: (log) => badge(log.success ? 'success' : 'failure', log.success ? 'ok' : 'bad') },
        { label: 'Similarity', cell: (log) => number(log.confidence, 4) },
        { label: 'IP address', cell: (log) => log.ipAddress ?? '—' },
        { label: 'User agent', cell: (log) => h('span', { class: 'small' }, log.userAgent ?? '—') },
      ],
      data.logs,
      { testId: 'logs-table', empty: 'No sign-in attempts yet.', pager: { page: data.page, totalPages: data.totalPages, totalItems: data.totalItems, go: (next) => logsTable(userId, next, slot).catch((error) => slot.prepend(errorBox(error))) } },
    ),
  );
}

/** An erasure receipt and the verdict on the tenant's chain. */
export function receiptView(receipt, chain) {
  return h(
    'div',
    { class: 'receipt' },
    h('h3', {}, `Erasure receipt #${receipt.sequence}`),
    h('p', { 'data-testid': 'chain-verdict', class: chain.verified ? 'ok' : 'error' }, chain.verified ? `Chain verified: ${chain.length} receipt(s), head ${chain.headDigest.slice(0, 16)}…` : 'The chain does NOT verify: a receipt was removed or altered.'),
    h(
      'dl',
      {},
      [
        ['Receipt', receipt.receiptId],
        ['User', receipt.userId],
        ['Mode', receipt.mode],
        ['Erased at', formatDate(receipt.erasedAt)],
        ['Records deleted', `profile ${receipt.deletedRecords.profile}, templates ${receipt.deletedRecords.templates}, sign-in logs ${receipt.deletedRecords.signInLogs}`],
        ['Key destroyed', receipt.keyIdDestroyed ?? '—'],
        ['Previous digest', receipt.previousDigest],
        ['Digest', receipt.digest],
      ].map(([term, value]) => [h('dt', {}, term), h('dd', {}, h('code', {}, value))]),
    ),
  );
}
