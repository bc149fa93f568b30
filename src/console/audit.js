// Audit: a user's history as a timeline (with the state at a chosen time, `at=`), and the tenant's
// erasure receipts with the hash chain's verification.
import { call, session } from './api.js';
import { receiptView } from './users.js';
import { h, show, table, formatDate, errorBox, withProgress, badge } from './ui.js';

const describe = (event) => {
  const facts = event.facts ?? {};
  switch (event.type) {
    case 'SignInAttempted':
      return `${facts.kind ?? 'sign-in'}: ${facts.outcome ?? '?'}${typeof facts.similarity === 'number' ? `, similarity ${facts.similarity.toFixed(4)}` : ''}${typeof facts.threshold === 'number' ? ` (threshold ${facts.threshold})` : ''}`;
    case 'FaceTemplateAdded':
      return `template ${facts.templateId ?? ''} added${typeof facts.quality === 'number' ? `, quality ${facts.quality.toFixed(2)}` : ''}`;
    default:
      return Object.entries(facts).map(([name, value]) => `${name}: ${typeof value === 'object' ? JSON.stringify(value) : value}`).join(', ');
  }
};

async function receiptsSection(slot, page = 1) {
  const current = session();
  if (current.kind === 'key' && current.mode === 'test') {
    slot.replaceChildren(h('p', {}, 'Erasure receipts need the users:delete scope, which test keys cannot hold.'));
    return;
  }
  try {
    const data = await call('GET', `/v1/erasures?page=${page}&perPage=10`);
    slot.replaceChildren(
      h('p', { 'data-testid': 'chain-verdict', class: data.chain.verified ? 'ok' : 'error' }, data.chain.verified ? `Chain verified: ${data.chain.length} receipt(s), head digest ${data.chain.headDigest.slice(0, 16)}…` : `The chain does NOT verify (${data.chain.length} receipts): a receipt was removed or altered.`),
      table(
        [
          { label: '#', cell: (r) => r.sequence },
          { label: 'Erased at', cell: (r) => formatDate(r.erasedAt) },
          { label: 'User', cell: (r) => h('a', { href: `#/audit/${r.userId}` }, r.userId) },
          { label: 'Mode', cell: (r) => badge(r.mode, r.mode) },
          { label: 'Deleted', cell: (r) => `${r.deletedRecords.profile} profile, ${r.deletedRecords.templates} templates, ${r.deletedRecords.signInLogs} logs` },
          { label: 'Digest', cell: (r) => h('code', { title: r.digest }, `${r.digest.slice(0, 16)}…`) },
        ],
        data.receipts,
        { testId: 'receipts-table', empty: 'No erasures yet.', pager: { page: data.page, totalPages: data.totalPages, totalItems: data.totalItems, go: (next) => receiptsSection(slot, next) } },
      ),
    );
  } catch (error) {
    slot.replaceChildren(errorBox(error));
  }
}

/** `#/audit` (receipts, and a user id to look up) or `#/audit/usr_…` (that user's timeline too). */
export async function auditPage(userId) {
  const receipts = h('div', {}, 'Loading…');
  const lookup = h('input', { name: 'userId', placeholder: 'usr_…', value: userId ?? '', 'aria-label': 'User id' });
  const timeline = h('div', { 'data-testid': 'timeline' });
  show(
    h('h1', {}, 'Audit'),
    h('form', { class: 'row search', onsubmit: (event) => { event.preventDefault(); if (lookup.value.trim()) location.hash = `#/audit/${encodeURIComponent(lookup.value.trim())}`; } }, lookup, h('button', { type: 'submit' }, 'Show history')),
    timeline,
    h('h2', {}, 'Erasure receipts'),
    receipts,
  );
  void receiptsSection(receipts);
  if (userId) await historySection(userId, timeline);
}

async function historySection(userId, slot, at) {
  const data = await call('GET', `/v1/users/${encodeURIComponent(userId)}/history${at ? `?at=${encodeURIComponent(at)}` : ''}`);
  const picker = h('input', { type: 'datetime-local', step: 1, 'data-testid': 'at-picker', 'aria-label': 'State at (UTC)' });
  if (at) picker.value = at.slice(0, 19);
  const apply = h('button', { type: 'button' }, 'Show state at this time (UTC)');
  const status = h('div');
  apply.addEventListener('click', () =>
    withProgress(apply, status, async () => {
      if (!picker.value) throw new Error('choose a date and time first');
      const iso = new Date(`${picker.value.length === 16 ? `${picker.value}:00` : picker.value}Z`).toISOString();
      await historySection(userId, slot, iso);
    }),
  );
  const stateAt = data.stateAt;
  slot.replaceChildren(
    h('h2', {}, 'History of ', h('code', {}, userId), ' ', badge(data.status, data.status === 'active' ? 'ok' : 'bad')),
    h('div', { class: 'row' }, picker, apply, at ? h('button', { type: 'button', onclick: () => historySection(userId, slot) }, 'Now') : null),
    status,
    stateAt
      ? h(
          'div',
          { class: 'state', 'data-testid': 'state-at' },
          h('h3', {}, `State at ${formatDate(stateAt.at)}: `, badge(stateAt.status, stateAt.status === 'active' ? 'ok' : 'bad')),
          h('p', {}, `${stateAt.templates.length} template(s): ${stateAt.templates.map((t) => `${t.templateId} (quality ${t.quality ?? '—'})`).join(', ') || 'none'}`),
          h('p', {}, `Sign-ins ${stateAt.counters.loginCount} (${stateAt.counters.successfulLogins} successful, ${stateAt.counters.failedLogins} failed) · match threshold ${stateAt.thresholds.matchThreshold}, max templates ${stateAt.thresholds.maxTemplates}`),
        )
      : null,
    h(
      'ol',
      { class: 'timeline' },
      data.events.map((event) =>
        h(
          'li',
          {},
          h('time', { datetime: event.occurredAt }, formatDate(event.occurredAt)),
          h('strong', {}, event.type),
          h('span', {}, describe(event)),
          h('span', { class: 'small' }, `by ${event.actorKeyId ?? '—'} · ${event.requestId ?? ''} · position ${event.position}`),
        ),
      ),
    ),
  );
}

export { receiptView };
