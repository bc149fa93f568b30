import { AppError } from '../errors/appError.ts';
import { isPlainText } from './clientText.ts';
import { fieldName } from './fieldName.ts';

/** Deepest nesting of arrays and objects a request may hold (this API's requests nest 3 deep). */
export const maxInputDepth = 20;
/** Most fields one object of a request may hold (this API's objects have fewer than 10). */
export const maxObjectFields = 256;

/** Where a request carries the value. */
export type InputPlace = 'body' | 'query' | 'path';

const textMessage = 'must not contain NUL characters or unpaired UTF-16 surrogates';

/**
 * Walks a parsed request part once, before any schema sees it, and refuses with VALIDATION_ERROR
 * naming the field: text (a value or a key) holding NUL or a lone surrogate, which PostgreSQL
 * cannot store, nesting deeper than `maxInputDepth`, and objects of more than `maxObjectFields`
 * fields. Schemas then only decide what is valid, not what is safe to look at.
 */
export function guardInput(value: unknown, where: InputPlace, rootField: string = where): void {
  const path: (string | number)[] = [];
  const refuse = (message: string, at: readonly (string | number)[] = path): never => {
    const field = at.length === 0 ? rootField : fieldName(at);
    throw new AppError('VALIDATION_ERROR', `${field}: ${message}`, { field, in: where });
  };
  const walk = (node: unknown, depth: number): void => {
    if (typeof node === 'string') {
      if (!isPlainText(node)) refuse(textMessage);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    if (depth >= maxInputDepth) refuse(`nests deeper than ${maxInputDepth} levels`);
    if (Array.isArray(node)) {
      for (let index = 0; index < node.length; index++) {
        path.push(index);
        walk(node[index], depth + 1);
        path.pop();
      }
      return;
    }
    const keys = Object.keys(node);
    if (keys.length > maxObjectFields) refuse(`has ${keys.length} fields; at most ${maxObjectFields} are accepted`);
    for (const key of keys) {
      path.push(key);
      if (!isPlainText(key)) refuse(`a field name ${textMessage}`);
      walk((node as Record<string, unknown>)[key], depth + 1);
      path.pop();
    }
  };
  walk(value, 0);
}
