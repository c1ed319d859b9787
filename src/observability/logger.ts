// Structured logs: one JSON object a line on stdout, each with a timestamp, so a log pipeline can
// filter by checkpoint (namespace, name), phase and reconcileId without parsing prose.
import { randomUUID } from 'node:crypto';
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** Lowest level written (default info). */
  level?: LogLevel;
  /** Where lines go (default process.stdout); tests pass a stream they read. */
  stream?: NodeJS.WritableStream;
  /** Fields on every line, e.g. { component: 'operator', pod: POD_NAME }. */
  fields?: LogFields;
  /** Write nothing (tests). */
  silent?: boolean;
}

/** Fields a child logger adds to each of its lines. Reconcile lines carry the four named ones. */
export interface LogFields {
  namespace?: string;
  name?: string;
  phase?: string;
  reconcileId?: string;
  [key: string]: unknown;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

// An Error in a field would serialize as {}: keep its name, message and stack instead.
const errorFields = winston.format((info) => {
  for (const key of Object.keys(info)) {
    const value = info[key];
    if (value instanceof Error) {
      info[key] = { name: value.name, message: value.message, stack: value.stack };
    }
  }
  return info;
});

export function createLogger(opts: LoggerOptions = {}): Logger {
  return winston.createLogger({
    level: opts.level ?? 'info',
    levels: winston.config.npm.levels,
    silent: opts.silent ?? false,
    defaultMeta: opts.fields ? { ...opts.fields } : undefined,
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      errorFields(),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Stream({ stream: opts.stream ?? process.stdout })],
  });
}

let root: Logger | undefined;

/** The process-wide logger (created on first use with level info, or by configureLogger). */
export function rootLogger(): Logger {
  root ??= createLogger();
  return root;
}

/** Replaces the process-wide logger; call once at startup with the configured level. */
export function configureLogger(opts: LoggerOptions): Logger {
  root = createLogger(opts);
  return root;
}

/** A logger whose every line carries `fields` (e.g. namespace, name, phase, reconcileId). */
export function childLogger(fields: LogFields, parent: Logger = rootLogger()): Logger {
  return parent.child({ ...fields });
}

/** A short id that ties together the lines of one reconcile. */
export function newReconcileId(): string {
  return randomUUID().slice(0, 8);
}
