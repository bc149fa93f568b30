/**
 * Values the OpenAPI examples are made of (shown in /docs). Each example is parsed by the schema it
 * illustrates in test/openapi.api.test.ts, so they stay true as the schemas change.
 */

/** A face descriptor: 128 numbers of the size face-api's recognition net gives (a fixed pseudo-random draw). */
export const exampleDescriptor: readonly number[] = (() => {
  let state = 20261201;
  const values: number[] = [];
  for (let i = 0; i < 128; i += 1) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values.push(Math.round(((state / 2147483648) * 0.5 - 0.25) * 1e4) / 1e4);
  }
  return values;
})();

export const example = {
  userId: 'usr_3f1c9a7be2d54c6f8a0b1d2e3f4a5b6c',
  otherUserId: 'usr_9b8a7c6d5e4f40312a1b0c9d8e7f6a5b',
  templateId: 'tpl_0c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5',
  otherTemplateId: 'tpl_7e6d5c4b3a2940f1e0d9c8b7a6f5e4d3',
  webhookId: 'wh_5a4b3c2d1e0f4a9b8c7d6e5f4a3b2c1d',
  deliveryId: 'evt_1f2e3d4c5b6a47980a1b2c3d4e5f6a7b',
  tenantId: '0b7c3d1e-5f4a-4b6c-9d8e-7f6a5b4c3d2e',
  keyId: 'key_2b3c4d5e6f7a48b9c0d1e2f3a4b5c6d7',
  testKeyId: 'key_8c9d0e1f2a3b44c5d6e7f8a9b0c1d2e3',
  liveKey: 'fs_live_QcdAub_XcmLjMtAixnlQpNRUV0LSwazLxyCCuZIRRVc',
  testKey: 'fs_test__KzExvx4qKFCntQcWbvKOxBS7rP5MjclzhmNHqjDLgY',
  webhookSecret: 'whsec_pzacrcuzP8f2YXML7c_SvEJb2EwMbm2oL0nQezjYJQQ',
  receiptId: 'rcpt_6a5b4c3d2e1f40a9b8c7d6e5f4a3b2c1',
  logId: 'log_4d3c2b1a0f9e48d7c6b5a4f3e2d1c0b9',
  email: 'ada.lovelace@example.com',
  otherEmail: 'grace.hopper@example.com',
  fullName: 'Ada Lovelace',
  at: '2026-11-30T09:15:27.412Z',
  earlier: '2026-11-02T14:03:55.118Z',
  digest: '5d41402abc4b2a76b9719d911017c592ae4f6b1e0b5f8e3a1c2d4e6f8a0b1c2d',
  previousDigest: '0000000000000000000000000000000000000000000000000000000000000000',
  image: 'data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/',
} as const;
