import { galleryStatsProjection } from './galleryStats/galleryStatsProjection.ts';
import type { Projection } from './projection.ts';
import { usageProjection } from './usage/usageProjection.ts';
import { tenantsProjection } from './tenants/tenantsProjection.ts';
import { usersProjection } from './users/usersProjection.ts';
import { webhooksProjection } from './webhooks/webhooksProjection.ts';

/** Every projection the service runs, in the order they are prepared. */
export function allProjections(): readonly Projection[] {
  return [usageProjection, usersProjection, tenantsProjection, webhooksProjection, galleryStatsProjection];
}
