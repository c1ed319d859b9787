// The same destination rules for other outgoing requests (notification webhooks, Prometheus
// redirects): https, or http to a trusted host; no credentials in the URL; every resolved
// address public unless the host is trusted.
import type { LookupAddress } from 'node:dns';
import { defaultResolver } from './connection.js';
import { bareHost, forbiddenAddressKind, ipFamily, matchesTrusted, parsePattern, type HostPattern } from './policy.js';

/**
 * Resolves the host once and returns the vetted address to connect to, so DNS rebinding cannot
 * swap it. Throws an Error saying why, with the URL's query redacted.
 */
export class DestinationGuard {
  private readonly trusted: HostPattern[];
  private readonly resolveHost: (host: string) => Promise<LookupAddress[]>;

  constructor(trustedHosts: readonly string[] = [], resolve?: (host: string) => Promise<LookupAddress[]>) {
    this.trusted = trustedHosts.map(parsePattern);
    this.resolveHost = resolve ?? defaultResolver;
  }

  isTrusted(url: URL): boolean {
    return matchesTrusted(this.trusted, url);
  }

  async vet(url: URL, label: string): Promise<LookupAddress> {
    // Only scheme and host in messages: a webhook's path or query may itself be the secret.
    const where = `${url.protocol}//${url.host}`;
    const trusted = this.isTrusted(url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`the ${label} URL scheme '${url.protocol}' is not supported; use https://`);
    if (url.protocol === 'http:' && !trusted) throw new Error(`the ${label} URL ${where} uses plain http to a host not in the operator's trusted hosts; use https or trust the host`);
    if (url.username || url.password) throw new Error(`the ${label} URL carries credentials in the URL; put a token in the Secret instead`);
    const host = bareHost(url);
    const fam = ipFamily(host);
    const addrs = fam !== 0 ? [{ address: host, family: fam }] : await this.resolveHost(host);
    if (addrs.length === 0) throw new Error(`DNS returned no address for ${host}`);
    if (!trusted) {
      for (const a of addrs) {
        const kind = forbiddenAddressKind(a.address);
        if (kind) throw new Error(`the ${label} URL ${where} resolves to ${a.address}, a ${kind} address; refused (add the host to the operator's trusted hosts if this is intended)`);
      }
    }
    return addrs[0]!;
  }
}
