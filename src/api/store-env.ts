// How a model's store access (spec.artifact's secretRef, s3, oci) travels to the serving
// container: env vars beside MODEL_URI and, for a Secret, a read-only Secret volume. The operator
// writes them (src/kube/deployments.ts), the inference server reads them (src/server/config.ts)
// and the rollback point is read back from them, so all three agree on one mapping.
// Pure: no I/O.
import { CREDENTIALS_MOUNT, STORE_ENV, type StoreAccess } from './types.js';

/** The env vars for `access`, only those that carry something (the rest are left out, and so removed). */
export function storeEnv(access: StoreAccess | undefined): Array<{ name: string; value: string }> {
  const env: Array<{ name: string; value: string }> = [];
  const add = (name: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') env.push({ name, value });
  };
  add(STORE_ENV.s3Region, access?.s3?.region);
  add(STORE_ENV.s3Endpoint, access?.s3?.endpoint);
  if (access?.s3?.forcePathStyle !== undefined) add(STORE_ENV.s3ForcePathStyle, String(access.s3.forcePathStyle));
  if (access?.oci?.plainHttp) add(STORE_ENV.ociPlainHttp, 'true');
  if (access?.secretRef?.name) {
    add(STORE_ENV.credentialsSecret, access.secretRef.name);
    add(STORE_ENV.credentialsDir, CREDENTIALS_MOUNT);
  }
  return env;
}

/** The store access a container's env says it uses (the inverse of storeEnv). */
export function storeAccessFromEnv(env: Record<string, string | undefined>): StoreAccess {
  const access: StoreAccess = {};
  const region = env[STORE_ENV.s3Region];
  const endpoint = env[STORE_ENV.s3Endpoint];
  const pathStyle = env[STORE_ENV.s3ForcePathStyle];
  if (region || endpoint || pathStyle) {
    access.s3 = {
      ...(region ? { region } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(pathStyle ? { forcePathStyle: pathStyle === 'true' } : {}),
    };
  }
  if (env[STORE_ENV.ociPlainHttp] === 'true') access.oci = { plainHttp: true };
  const secret = env[STORE_ENV.credentialsSecret];
  if (secret) access.secretRef = { name: secret };
  return access;
}

/** Only the store fields of an artifact or rollback point (no uri, digest, ...). */
export function storeAccessOf(from: StoreAccess | undefined): StoreAccess {
  return {
    ...(from?.secretRef ? { secretRef: { name: from.secretRef.name } } : {}),
    ...(from?.s3 ? { s3: { ...from.s3 } } : {}),
    ...(from?.oci ? { oci: { ...from.oci } } : {}),
  };
}
