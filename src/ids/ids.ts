import { randomUUID } from 'node:crypto';

/** Prefixed opaque ids of the contract: a prefix and 32 hex characters of a v4 uuid. */
export type IdPrefix = 'usr' | 'tpl' | 'log' | 'wh' | 'evt' | 'key' | 'ten' | 'rcpt' | 'idem';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

const shape = /^[0-9a-f]{32}$/;

/** True when `value` is an id of this prefix (it says nothing of whether it exists). */
export function isId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && shape.test(value.slice(prefix.length + 1));
}

/** A generator of ids, injected so deciders and tests stay deterministic. */
export interface IdGenerator {
  next(prefix: IdPrefix): string;
  uuid(): string;
}

export const randomIds: IdGenerator = { next: newId, uuid: randomUUID };
