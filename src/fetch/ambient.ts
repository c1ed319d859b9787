// The operator's own AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY env vars, or a web
// identity token file in the IRSA / Workload Identity style: AWS_ROLE_ARN +
// AWS_WEB_IDENTITY_TOKEN_FILE), used for an s3:// artifact that names no Secret, and only when the
// operator was started with --allow-ambient-credentials. Resolved by the AWS SDK's own providers.
import { createCredentialChain, fromEnv, fromTokenFile } from '@aws-sdk/credential-providers';
import type { AmbientCredentials } from './types.js';

export function ambientCredentials(): AmbientCredentials {
  const chain = createCredentialChain(fromEnv(), fromTokenFile());
  return {
    s3: async () => {
      const c = await chain();
      return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) };
    },
  };
}
