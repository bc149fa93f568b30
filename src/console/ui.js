// Small DOM helpers. Every text goes in through textContent, never as HTML.
import { ApiError } from './api.js';

/** Builds an element: h('button', { class: 'x', onclick }, 'text', child). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replaces the page's content. */
export function show(...children) {
  const page = document.getElementById('page');
  page.replaceChildren(...children);
  return page;
}

export function toast(text) {
  const element = document.getElementById('toast');
  element.textContent = text;
  element.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (element.hidden = true), 4000);
}

/** An error box with the API's message (and code). */
export function errorBox(error) {
  const message = error instanceof ApiError ? `${error.message} (${error.code}${error.status ? `, ${error.status}` : ''})` : error instanceof Error ? error.message : String(error);
  return h('p', { class: 'error', role: 'alert' }, message);
}

/** Runs an action, showing its progress on the button and its error (the API's message) in `where`. */
export async function withProgress(button, where, action) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = `${label}…`;
  where?.querySelectorAll(':scope > .error').forEach((node) => node.remove());
  try {
    return await action();
  } catch (error) {
    where?.prepend(errorBox(error));
    return undefined;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

export const loading = (text = 'Loading') => h('p', { class: 'loading' }, `${text}…`);

export function formatDate(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return `${date.toISOString().slice(0, 10)} ${date.toISOString().slice(11, 19)} UTC`;
}

export const percent = (value) => (value === null || value === undefined ? '—' : `${(value * 100).toFixed(1)} %`);
export const number = (value, digits = 3) => (value === null || value === undefined ? '—' : Number(value).toFixed(digits));

/**
 * A table: `columns` are `{ label, cell(row) }`; with `pager` ({ page, totalPages, totalItems, go(page) })
 * it gets previous/next buttons.
 */
export function table(columns, rows, { pager, empty = 'Nothing yet.', testId } = {}) {
  const body = rows.length === 0 ? [h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, empty))] : rows.map((row) => h('tr', {}, columns.map((column) => h('td', {}, column.cell(row)))));
  const element = h('div', { class: 'table', 'data-testid': testId }, h('table', {}, h('thead', {}, h('tr', {}, columns.map((column) => h('th', {}, column.label)))), h('tbody', {}, body)));
  if (pager && pager.totalPages > 1) {
    element.append(
      h(
        'div',
        { class: 'pager' },
        h('button', { type: 'button', disabled: pager.page <= 1, onclick: () => pager.go(pager.page - 1) }, '← Previous'),
        h('span', {}, `Page ${pager.page} of ${pager.totalPages} (${pager.totalItems} in all)`),
        h('button', { type: 'button', disabled: pager.page >= pager.totalPages, onclick: () => pager.go(pager.page + 1) }, 'Next →'),
      ),
    );
  } else if (pager) {
    element.append(h('div', { class: 'pager' }, h('span', {}, `${pager.totalItems} in all`)));
  }
  return element;
}

/** A secret shown once, with a copy button. */
export function secretOnce(label, secret) {
  const field = h('input', { class: 'secret', readonly: true, value: secret, 'data-testid': 'secret-once', spellcheck: 'false' });
  const copy = h('button', {
    type: 'button',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(secret);
        copy.textContent = 'Copied';
      } catch {
        field.select();
        copy.textContent = 'Press Ctrl+C';
      }
    },
  }, 'Copy');
  return h('div', { class: 'once', role: 'alert' }, h('strong', {}, label), h('p', {}, 'Shown this once: copy it now. The service keeps only its hash.'), h('div', { class: 'row' }, field, copy));
}

/**
 * A confirmation dialog: resolves true when the operator types `expected` exactly and confirms.
 * Used before an erasure (the operator types the user's email).
 */
export function confirmTyped({ title, text, expected, action }) {
  return new Promise((resolve) => {
    const input = h('input', { type: 'text', 'data-testid': 'confirm-input', autocomplete: 'off', spellcheck: 'false' });
    const go = h('button', { type: 'submit', class: 'danger', disabled: true }, action);
    input.addEventListener('input', () => (go.disabled = input.value !== expected));
    const dialog = h(
      'dialog',
      { class: 'confirm' },
      h(
        'form',
        {
          onsubmit: (event) => {
            event.preventDefault();
            if (input.value === expected) dialog.close('confirm');
          },
        },
        h('h2', {}, title),
        h('p', {}, text),
        h('label', {}, `Type ${expected} to confirm`, input),
        h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => dialog.close('cancel') }, 'Cancel'), go),
      ),
    );
    dialog.addEventListener('close', () => {
      const confirmed = dialog.returnValue !== 'cancel' && input.value === expected;
      dialog.remove();
      resolve(confirmed);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

export const badge = (text, kind = '') => h('span', { class: `badge ${kind}` }, text);
