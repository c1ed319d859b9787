import assert from 'node:assert/strict';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { buildNotification, parseNotificationConfig, renderBody, retryDelayMs } from '../../../src/notify/payload.js';

const rejected: ModelCheckpoint = {
  apiVersion: 'modelgate.io/v1alpha1',
  kind: 'ModelCheckpoint',
  metadata: { name: 'r-3', namespace: 'ml' },
  spec: { model: 'ranker', version: '3', artifact: { uri: 'https://x/r.onnx', digest: `sha256:${'d'.repeat(64)}` }, target: { deployment: 'ranker', container: 'server' } },
  status: {
    phase: 'Rejected',
    stages: [
      { stage: 'architecture', verdict: 'Passed', reason: 'Compatible', message: 'ok' },
      { stage: 'regression', verdict: 'Failed', reason: 'Regression', message: 'accuracy fell', severity: 'SEVERE', summary: { severity: 'SEVERE', blockAt: 'SEVERE', metrics: 2 } },
    ],
  },
};

describe('notify/payload', () => {
  it('parses the ConfigMap with its defaults', () => {
    assert.deepEqual(parseNotificationConfig({ secret: 'hook' }), { secretName: 'hook', urlKey: 'url', tokenKey: 'token', format: 'json', events: ['Rejected', 'Failed', 'Deployed', 'RolledBack', 'Healthy'] });
    assert.deepEqual(parseNotificationConfig({ secret: 'hook', format: 'slack', events: 'RolledBack,Healthy', urlKey: 'webhook' }).events, ['RolledBack', 'Healthy']);
  });

  it('names the field of every bad input', () => {
    assert.throws(() => parseNotificationConfig({}), /data\.secret is missing/);
    assert.throws(() => parseNotificationConfig({ secret: 'other-ns/hook' }), /data\.secret 'other-ns\/hook' is not a valid Secret name/);
    assert.throws(() => parseNotificationConfig({ secret: 'hook', format: 'xml' }), /data\.format 'xml' is not json or slack/);
    assert.throws(() => parseNotificationConfig({ secret: 'hook', events: 'RolledBack,Exploded' }), /data\.events names 'Exploded'/);
    assert.throws(() => parseNotificationConfig({ secret: 'hook', urlKey: 'a b' }), /data\.urlKey 'a b' is not a valid Secret key/);
  });

  it('a rejection carries the gate that said no and its numbers', () => {
    const n = buildNotification(rejected, 'Validating', 'Rejected', 'Regression', 'regression: accuracy fell', '2030-01-01T00:00:00Z');
    assert.deepEqual(n.decision, { gate: 'regression', verdict: 'Failed', severity: 'SEVERE', numbers: { severity: 'SEVERE', blockAt: 'SEVERE', metrics: 2 } });
    assert.equal(n.checkpoint.deployment, 'ranker');
    const slack = JSON.parse(renderBody(n, 'slack')) as { text: string; attachments: Array<{ fields: Array<{ title: string; value: string }> }> };
    assert.match(slack.text, /^ModelCheckpoint ml\/r-3 \(ranker 3\) is Rejected: Regression\./);
    assert.ok(slack.attachments[0]!.fields.some((f) => f.title === 'Gate' && f.value === 'regression'));
  });

  it('backs off exponentially, capped, honouring a longer Retry-After', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((a) => retryDelayMs(a, 100, 1000)), [100, 200, 400, 800, 1000]);
    assert.equal(retryDelayMs(1, 100, 1000, 700), 700);
    assert.equal(retryDelayMs(1, 100, 1000, 5000), 1000);
  });
});
