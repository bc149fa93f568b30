// Webhooks: list, create (the secret shown once), delivery log with retries, resume, delete.
import { call } from './api.js';
import { h, show, table, formatDate, withProgress, secretOnce, toast, badge, errorBox } from './ui.js';

const eventNames = ['face.registered', 'face.verified', 'face.failed', 'template.created', 'template.deleted', 'user.deleted'];

export async function webhooksPage() {
  const { webhooks } = await call('GET', '/v1/webhooks');
  const status = h('div');
  const created = h('div', { 'data-testid': 'created-webhook' });
  const deliveriesSlot = h('div');
  const url = h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://example.com/hooks/facesmash' });
  const boxes = eventNames.map((name) => ({ name, box: h('input', { type: 'checkbox', value: name, checked: true }) }));
  const createButton = h('button', { type: 'submit' }, 'Create webhook');
  const form = h(
    'form',
    {
      class: 'inline-form',
      'data-testid': 'create-webhook-form',
      onsubmit: (event) => {
        event.preventDefault();
        void withProgress(createButton, status, async () => {
          const webhook = await call('POST', '/v1/webhooks', { url: url.value.trim(), events: boxes.filter(({ box }) => box.checked).map(({ name }) => name) });
          await webhooksPage();
          document.querySelector('[data-testid="created-webhook"]').replaceChildren(secretOnce(`Signing secret of ${webhook.url}`, webhook.secret));
        });
      },
    },
    h('label', { class: 'wide' }, 'URL', url),
    h('fieldset', {}, h('legend', {}, 'Events'), boxes.map(({ name, box }) => h('label', { class: 'check' }, box, name))),
    h('div', { class: 'row' }, createButton),
  );
  const actions = (webhook) => {
    const deliveries = h('button', { type: 'button', onclick: () => showDeliveries(webhook, deliveriesSlot) }, 'Deliveries');
    const resume = h('button', { type: 'button', disabled: webhook.status === 'active' }, 'Resume');
    resume.addEventListener('click', () =>
      withProgress(resume, status, async () => {
        const result = await call('POST', `/v1/webhooks/${webhook.id}/resume`);
        toast(`Resumed: ${result.resumedDeliveries} paused deliveries retried`);
        await webhooksPage();
      }),
    );
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete');
    remove.addEventListener('click', () => {
      if (!window.confirm(`Delete the webhook to ${webhook.url}?`)) return;
      void withProgress(remove, status, async () => {
        await call('DELETE', `/v1/webhooks/${webhook.id}`);
        toast('Webhook deleted');
        await webhooksPage();
      });
    });
    return h('div', { class: 'row' }, deliveries, resume, remove);
  };
  show(
    h('h1', {}, 'Webhooks'),
    created,
    status,
    h('h2', {}, 'Create a webhook'),
    form,
    h('h2', {}, 'Webhooks'),
    table(
      [
        { label: 'URL', cell: (w) => h('code', {}, w.url) },
        { label: 'Status', cell: (w) => badge(w.status, w.status === 'active' ? 'ok' : 'bad') },
        { label: 'Events', cell: (w) => h('span', { class: 'small' }, w.events.join(' ')) },
        { label: 'Failures', cell: (w) => w.failureCount },
        { label: 'Last delivery', cell: (w) => formatDate(w.lastDeliveryAt) },
        { label: 'Created', cell: (w) => formatDate(w.createdAt) },
        { label: '', cell: actions },
      ],
      webhooks,
      { testId: 'webhooks-table', empty: 'No webhooks yet.' },
    ),
    deliveriesSlot,
  );
}

async function showDeliveries(webhook, slot) {
  slot.replaceChildren(h('p', { class: 'loading' }, 'Loading deliveries…'));
  try {
    const { deliveries } = await call('GET', `/v1/webhooks/${webhook.id}/deliveries?limit=50`);
    slot.replaceChildren(
      h('h2', {}, 'Deliveries to ', h('code', {}, webhook.url)),
      table(
        [
          { label: 'Event', cell: (d) => d.event },
          { label: 'Status', cell: (d) => badge(d.status, d.status === 'delivered' ? 'ok' : d.status === 'failed' ? 'bad' : '') },
          { label: 'Attempts', cell: (d) => d.attempts },
          { label: 'Last answer', cell: (d) => (d.lastStatusCode ?? d.lastError ?? '—') },
          { label: 'Next retry', cell: (d) => formatDate(d.nextAttemptAt) },
          { label: 'Created', cell: (d) => formatDate(d.createdAt) },
          { label: 'Delivered', cell: (d) => formatDate(d.deliveredAt) },
          { label: 'Id', cell: (d) => h('code', {}, d.id) },
        ],
        deliveries,
        { testId: 'deliveries-table', empty: 'No deliveries yet.' },
      ),
    );
  } catch (error) {
    slot.replaceChildren(errorBox(error));
  }
}
