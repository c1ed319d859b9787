// What the informer caches keep of an object (src/kube/informer.ts withoutUnread). That the
// running caches hold such objects is test/integration/controller/lean-cache.test.ts.
import assert from 'node:assert/strict';
import { LAST_APPLIED, withoutUnread } from '../../src/kube/informer.js';

const managedFields = [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:model': {} } } }];

describe('kube/informer withoutUnread', () => {
  it('drops managedFields and the last-applied annotation, keeps every other annotation and field, in place', () => {
    const obj = {
      apiVersion: 'modelgate.io/v1alpha1',
      kind: 'ModelCheckpoint',
      metadata: { name: 'v1', namespace: 'ns', uid: 'u', resourceVersion: '5', generation: 2, finalizers: ['modelgate.io/finalizer'], managedFields, annotations: { [LAST_APPLIED]: '{"big":"json"}', 'modelgate.io/promote': '2' } },
      spec: { model: 'm' },
      status: { phase: 'Pending' },
    };
    const same = withoutUnread(obj);
    assert.equal(same, obj, 'the object itself is changed: a watch event\'s object is the cached one');
    assert.deepEqual(obj.metadata, { name: 'v1', namespace: 'ns', uid: 'u', resourceVersion: '5', generation: 2, finalizers: ['modelgate.io/finalizer'], annotations: { 'modelgate.io/promote': '2' } });
    assert.deepEqual(obj.spec, { model: 'm' });
    assert.deepEqual(obj.status, { phase: 'Pending' });
  });

  it('leaves no empty annotations behind, and leaves an object with nothing to drop as it was', () => {
    const obj = { metadata: { name: 'd', managedFields, annotations: { [LAST_APPLIED]: '{}' } } };
    withoutUnread(obj);
    assert.deepEqual(obj.metadata, { name: 'd' });
    const meta = { name: 'x', annotations: { a: 'b' } };
    const lean = { metadata: meta };
    withoutUnread(lean);
    assert.equal(lean.metadata, meta, 'not rebuilt when there is nothing to drop');
    assert.doesNotThrow(() => withoutUnread({} as never));
  });
});
