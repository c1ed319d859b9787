import assert from 'node:assert/strict';
import { storeAccessFromEnv, storeAccessOf, storeEnv } from '../../src/api/store-env.js';
import { CREDENTIALS_MOUNT, type StoreAccess } from '../../src/api/types.js';

const asRecord = (env: Array<{ name: string; value: string }>): Record<string, string> => Object.fromEntries(env.map((e) => [e.name, e.value]));

describe('store access on the serving container (src/api/store-env.ts)', () => {
  it('writes only the settings that carry something, so an omitted one is removed by the apply', () => {
    assert.deepEqual(storeEnv(undefined), []);
    assert.deepEqual(storeEnv({}), []);
    assert.deepEqual(storeEnv({ s3: {}, oci: { plainHttp: false } }), []);
    assert.deepEqual(asRecord(storeEnv({ s3: { region: 'eu-west-1', forcePathStyle: false } })), { MODEL_S3_REGION: 'eu-west-1', MODEL_S3_FORCE_PATH_STYLE: 'false' });
  });

  it('names the Secret and the folder it is mounted at, never a value from it', () => {
    const env = asRecord(storeEnv({ secretRef: { name: 'model-store' } }));
    assert.deepEqual(env, { MODEL_CREDENTIALS_SECRET: 'model-store', MODEL_CREDENTIALS_DIR: CREDENTIALS_MOUNT });
  });

  it('reads back exactly what it wrote, for every combination the API allows', () => {
    const cases: StoreAccess[] = [
      {},
      { secretRef: { name: 'model-store' } },
      { s3: { region: 'us-east-1' } },
      { s3: { region: 'eu-west-1', endpoint: 'http://seaweed.store:8333', forcePathStyle: true }, secretRef: { name: 's3-keys' } },
      { s3: { forcePathStyle: false } },
      { oci: { plainHttp: true }, secretRef: { name: 'registry' } },
    ];
    for (const access of cases) assert.deepEqual(storeAccessFromEnv(asRecord(storeEnv(access))), access, JSON.stringify(access));
  });

  it('copies only the store fields of an artifact, not its uri or digest', () => {
    const artifact = { uri: 's3://models/m.onnx', digest: `sha256:${'0'.repeat(64)}`, format: 'onnx', secretRef: { name: 'k' }, s3: { region: 'r' } };
    const access = storeAccessOf(artifact);
    assert.deepEqual(access, { secretRef: { name: 'k' }, s3: { region: 'r' } });
    access.s3!.region = 'changed';
    assert.equal(artifact.s3.region, 'r', 'a copy, not the spec object');
    assert.deepEqual(storeAccessOf(undefined), {});
  });
});
