// One control plane with a real node per test process, for the suites that need pods. It is
// separate from sharedControlPlane() so the suites that need no pods stay as they were.
import { ControlPlane } from './controlplane.js';
import { LocalNode } from './node.js';

export interface NodeCluster {
  cp: ControlPlane;
  node: LocalNode;
}

let shared: Promise<NodeCluster> | undefined;
const stops: Array<() => Promise<void>> = [];
let cleanups: Array<() => Promise<void>> = [];

/**
 * Runs `fn` when the shared node cluster stops, before its node does: e.g. deleting a Deployment
 * installed for several suites, whose pods would otherwise wait out the node's drain.
 */
export function beforeNodeClusterStop(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

export function sharedNodeCluster(): Promise<NodeCluster> {
  if (!shared) {
    const log = (l: string): boolean => process.stderr.write(`[node] ${l}\n`);
    const cp = new ControlPlane({ nodeControllers: true, log });
    const node = new LocalNode(cp, { log });
    const stop = async (): Promise<void> => {
      const run = cleanups;
      cleanups = [];
      for (const fn of run.reverse()) {
        try {
          await fn();
        } catch (err) {
          log(`cleanup before stopping the node: ${(err as Error).message}`);
        }
      }
      await node.stop();
      await cp.stop();
    };
    stops.push(stop);
    shared = (async () => {
      await cp.start();
      await node.start();
      return { cp, node };
    })().catch(async (err: unknown) => {
      await stop();
      throw err;
    });
  }
  return shared;
}

export async function stopSharedNodeCluster(): Promise<void> {
  for (const stop of stops.splice(0)) await stop();
  shared = undefined;
}
