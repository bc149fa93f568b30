/**
 * Text a client sent, as PostgreSQL and error messages need it. PostgreSQL refuses NUL in text and
 * jsonb, and a lone UTF-16 surrogate has no UTF-8 form, so neither may reach a command.
 */

interface WellFormedString {
  isWellFormed(): boolean;
}

/** True when the text holds no NUL and no lone surrogate. */
export function isPlainText(text: string): boolean {
  return !text.includes('\u0000') && (text as unknown as WellFormedString).isWellFormed();
}

/** At most `max` UTF-16 units of `text`, never ending in half a surrogate pair, with `…` when cut. */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max;
  return `${text.slice(0, end)}…`;
}

const unprintable = /[\u0000-\u001f\u007f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The text with control characters and lone surrogates written as `\uXXXX`, for error messages. */
export function printable(text: string): string {
  return text.replace(unprintable, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
