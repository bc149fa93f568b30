import type { ErrorCode } from '../../errors/appError.ts';
import type { RouteAuth } from './declaration.ts';

/** The codes a route's guard can answer before its handler runs, by how it is authenticated. */
export function guardErrors(auth: RouteAuth): readonly ErrorCode[] {
  switch (auth.kind) {
    case 'key':
      // FORBIDDEN: a scope the key lacks, or a browser origin the key does not list.
      return ['UNAUTHORIZED', 'FORBIDDEN', 'RATE_LIMITED', 'QUOTA_EXCEEDED'];
    case 'admin':
    case 'metrics':
      return ['UNAUTHORIZED'];
    case 'open':
      return [];
  }
}
