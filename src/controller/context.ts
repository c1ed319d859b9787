// Every log line written during a reconcile carries its namespace, name and reconcile id, also
// from deep inside the steps, without threading a logger through every call.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { Logger } from './deps.js';

export interface ReconcileContext {
  namespace: string;
  name: string;
  reconcileId: string;
}

const storage = new AsyncLocalStorage<ReconcileContext>();

export function inReconcile<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const [namespace = '', name = ''] = key.split('/');
  return storage.run({ namespace, name, reconcileId: randomBytes(4).toString('hex') }, fn);
}

/** A logger that adds the current reconcile's fields to each line. */
export function withReconcileFields(log: Logger): Logger {
  const add = (fields?: Record<string, unknown>): Record<string, unknown> => ({ ...storage.getStore(), ...fields });
  return {
    info: (msg, fields) => log.info(msg, add(fields)),
    warn: (msg, fields) => log.warn(msg, add(fields)),
    error: (msg, fields) => log.error(msg, add(fields)),
    debug: (msg, fields) => log.debug(msg, add(fields)),
  };
}
