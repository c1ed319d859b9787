// Mocha root hooks: whatever real server a test file started is stopped once, at the end.
import { stopSharedControlPlane } from './controlplane.js';
import { stopSharedNodeCluster } from './nodecluster.js';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    await stopSharedNodeCluster();
    await stopSharedControlPlane();
  },
};
