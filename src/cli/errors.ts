// Errors the CLI reports in one sentence (no stack trace), with the exit code they mean:
// 2 for usage or input errors, 1 for everything else that went wrong.
import { ApiError } from '../kube/client.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A wrong flag, a missing argument, an unreadable input file: exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** One line: newlines and runs of spaces collapse, a trailing period is kept once. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Ends a sentence with a period unless it already ends with punctuation. */
export function sentence(text: string): string {
  const t = oneLine(text);
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** The apiserver's own words from an ApiError (without the "PATCH /apis/...: 422" prefix). */
export function apiMessage(err: ApiError): string {
  return oneLine(err.message.replace(/^[A-Z]+ \S+: \d+ /, ''));
}

/**
 * Turns a failed API call into one sentence: what the CLI was doing, what the apiserver said,
 * what to do about it.
 */
export function apiFailure(err: unknown, doing: string, server: string, namespace?: string): CliError {
  if (!(err instanceof ApiError)) return new CliError(sentence(`${doing} failed: ${err instanceof Error ? err.message : String(err)}`));
  const said = apiMessage(err);
  switch (err.status) {
    case 0:
      return new CliError(sentence(`cannot reach the Kubernetes apiserver at ${server} while ${doing} (${said.replace(/^.*could not be reached \((.*)\)$/, '$1')}): check --kubeconfig or KUBECONFIG and that the cluster is running`));
    case 401:
      return new CliError(sentence(`the apiserver at ${server} did not accept the kubeconfig's credentials while ${doing} (401 Unauthorized): refresh the credentials or pick another context`));
    case 403:
      return new CliError(sentence(`the apiserver refused ${doing} (403 Forbidden: ${said}): ask for RBAC access to modelcheckpoints.modelgate.io${namespace ? ` in namespace ${namespace}` : ''}`));
    case 404:
      if (/could not find the requested resource|404 page not found/i.test(said)) {
        return new CliError(sentence(`the apiserver at ${server} does not serve modelcheckpoints.modelgate.io/v1alpha1 while ${doing}: install the CRD with kubectl apply -f crds/`));
      }
      return new CliError(sentence(`${doing} failed: ${said}`));
    case 409:
      return new CliError(sentence(`${doing} hit a conflict (${said}): run the command again, or pass --force-conflicts to take over fields another manager owns`));
    case 422:
    case 400:
      return new CliError(sentence(`the apiserver rejected ${doing}: ${said}`));
    default:
      return new CliError(sentence(`${doing} failed with HTTP ${err.status} ${err.reason}: ${said}`));
  }
}
