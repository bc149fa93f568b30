// Usage: requests per day and per minute, per mode, against the plan's limits (GET /admin/tenants/{id}/usage).
import { actingTenant, call } from './api.js';
import { timeChart, seconds } from './charts.js';
import { h, show, badge } from './ui.js';

const limitText = (limit, unit) => (limit === null ? 'unlimited' : `${limit.toLocaleString('en')} / ${unit}`);

export async function usagePage() {
  const tenantId = actingTenant();
  const [tenant, usage] = await Promise.all([call('GET', `/admin/tenants/${tenantId}`), call('GET', `/admin/tenants/${tenantId}/usage?days=30`)]);
  const { limits } = usage;
  const dayX = usage.days.map((day) => seconds(day.period));
  const minuteX = usage.minutes.map((minute) => seconds(minute.period));
  // The month's budget spread over its days, as a guide line (the limit itself is per month).
  const daysInMonth = new Date(Date.UTC(Number(usage.month.month.slice(0, 4)), Number(usage.month.month.slice(5, 7)), 0)).getUTCDate();
  const daySeries = [
    { label: 'live', values: usage.days.map((day) => day.live), bars: true },
    { label: 'test', values: usage.days.map((day) => day.test), bars: true, color: '#9333ea' },
  ];
  if (limits.live) daySeries.push({ label: `live plan: ${limits.live.perMonth}/month ÷ ${daysInMonth} days`, values: usage.days.map(() => Math.round(limits.live.perMonth / daysInMonth)), color: '#dc2626', dash: [6, 4], points: false });
  const minuteSeries = [
    { label: 'live', values: usage.minutes.map((minute) => minute.live), bars: true },
    { label: 'test', values: usage.minutes.map((minute) => minute.test), bars: true, color: '#9333ea' },
  ];
  if (limits.live) minuteSeries.push({ label: `live limit ${limits.live.perMinute}/min`, values: usage.minutes.map(() => limits.live.perMinute), color: '#dc2626', dash: [6, 4], points: false });
  minuteSeries.push({ label: `test limit ${limits.test.perMinute}/min`, values: usage.minutes.map(() => limits.test.perMinute), color: '#ea580c', dash: [2, 4], points: false });
  const used = (count, limit) => (limit === null ? `${count.toLocaleString('en')} (unlimited)` : `${count.toLocaleString('en')} of ${limit.perMonth.toLocaleString('en')} (${((100 * count) / limit.perMonth).toFixed(1)} %)`);
  show(
    h('h1', {}, `Usage of ${tenant.name} `, badge(usage.plan, usage.plan)),
    h(
      'div',
      { class: 'stats', 'data-testid': 'usage-stats' },
      h('div', {}, h('span', {}, `Live this month (${usage.month.month})`), h('strong', {}, used(usage.month.live, limits.live))),
      h('div', {}, h('span', {}, 'Test this month'), h('strong', {}, used(usage.month.test, limits.test))),
      h('div', {}, h('span', {}, 'Live limits'), h('strong', {}, `${limitText(limits.live?.perMinute ?? null, 'min')} · ${limitText(limits.live?.perMonth ?? null, 'month')}`)),
      h('div', {}, h('span', {}, 'Test limits (always free)'), h('strong', {}, `${limitText(limits.test.perMinute, 'min')} · ${limitText(limits.test.perMonth, 'month')}`)),
    ),
    timeChart({ title: 'Requests per day (UTC), last 30 days', x: dayX, series: daySeries, testId: 'usage-days-chart', bucket: 86_400 }),
    timeChart({ title: 'Requests per minute, last hour', x: minuteX, series: minuteSeries, testId: 'usage-minutes-chart', bucket: 60 }),
  );
}
