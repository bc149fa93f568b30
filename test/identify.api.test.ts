import test from 'ava';
import { atDistance, randomVector, seededRandom, similarity } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService } from './support/service.ts';

interface Gallery {
  users: Map<string, { email: string; templates: Map<string, number[]> }>;
}

/** Brute force over what the test itself registered: every user's best template, best first. */
function reference(gallery: Gallery, query: number[], threshold: number, maxResults: number) {
  const scored = [...gallery.users].map(([userId, user]) => {
    let best = { templateId: '', similarity: -1 };
    for (const [templateId, descriptor] of user.templates) {
      const s = similarity(query, descriptor);
      if (s > best.similarity) best = { templateId, similarity: s };
    }
    return { userId, email: user.email, ...best };
  });
  return scored
    .filter((s) => s.templateId !== '' && s.similarity >= threshold)
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, maxResults);
}

test('identify over many users ranks exactly like a brute-force reference, also after template removals and erasures', async (t) => {
  const running = await startService();
  const api = client(running.baseUrl, running.auth);
  const random = seededRandom(2026);
  try {
    // A dense gallery on purpose (different users closer than the match threshold): its own duplicate threshold.
    await running.service.tenants.changeSettings(running.tenantId, { settings: { duplicateThreshold: 0.75 } }, 'test');
    running.service.auth.forget();
    const base = randomVector(random);
    const gallery: Gallery = { users: new Map() };
    // 60 users around one base face at distances 0.3-0.7, each with 1-3 templates close to their centre.
    for (let u = 0; u < 60; u++) {
      const centre = atDistance(base, 0.3 + (u % 9) * 0.05, random);
      const email = `person${u}@example.com`;
      const templates = new Map<string, number[]>();
      let userId = '';
      for (let k = 0; k < 1 + (u % 3); k++) {
        const descriptor = atDistance(centre, 0.08, random);
        const response = await api.post('/v1/faces/register', { email, descriptor });
        t.is(response.status, 201, JSON.stringify(response.body));
        userId = response.body.data.userId;
        templates.set(response.body.data.templateId, descriptor);
      }
      gallery.users.set(userId, { email, templates });
    }

    const check = async (label: string) => {
      for (let q = 0; q < 8; q++) {
        const query = atDistance(base, 0.05 + q * 0.02, random);
        for (const [threshold, maxResults] of [
          [0.35, 50],
          [0.45, 10],
          [0.5, 3],
        ] as const) {
          const response = await api.post('/v1/faces/identify', { descriptor: query, threshold, maxResults });
          t.is(response.status, 200);
          const expected = reference(gallery, query, threshold, maxResults);
          const got = response.body.data.matches as Array<{ userId: string; templateId: string; similarity: number; email: string }>;
          t.deepEqual(
            got.map((m) => [m.userId, m.templateId, m.email]),
            expected.map((m) => [m.userId, m.templateId, m.email]),
            `${label}: query ${q}, threshold ${threshold}, maxResults ${maxResults}`,
          );
          for (const [i, m] of got.entries()) t.true(Math.abs(m.similarity - expected[i]!.similarity) < 1e-3);
        }
      }
    };

    await check('fresh gallery');
    t.true((await api.post('/v1/faces/identify', { descriptor: base, threshold: 0.35, maxResults: 50 })).body.data.matches.length >= 30, 'the test exercises many candidates');

    // Remove the best template of some multi-template users, and erase a few users outright.
    let removals = 0;
    for (const [userId, user] of gallery.users) {
      if (user.templates.size > 1 && removals < 10) {
        const [templateId] = user.templates.keys();
        const response = await api.delete(`/v1/faces/templates/${templateId}`);
        t.is(response.status, 200);
        user.templates.delete(templateId!);
        removals += 1;
        void userId;
      }
    }
    const erased = [...gallery.users.keys()].filter((_, i) => i % 7 === 0);
    for (const userId of erased) {
      t.is((await api.delete(`/v1/users/${userId}`)).status, 200);
      gallery.users.delete(userId);
    }
    await check('after removals and erasures');
  } finally {
    await running.stop();
  }
});
