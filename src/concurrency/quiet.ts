/**
 * Marks a promise handled now and returns it: it is awaited later (or, once what awaits it has
 * failed, never), and a rejection meanwhile must not be reported as unhandled.
 */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
