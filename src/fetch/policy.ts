// The address policy, pure (no I/O): which addresses are forbidden (loopback, private, link-local
// and cloud-metadata ranges, ...), how trusted-host entries are written and matched, and how a
// URL is shown in messages. Every connection of every scheme asks these functions; the I/O
// (resolving, connecting) lives in connection.ts.

const V4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: string): boolean {
  return V4_RE.test(s);
}

export function isIPv6(s: string): boolean {
  return s.includes(':') && ipv6Groups(s) !== undefined;
}

/** 4 or 6 for an IP literal, 0 otherwise (like net.isIP). */
export function ipFamily(s: string): 0 | 4 | 6 {
  return isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}

function inV4(ip: string, cidr: string, bits: number): boolean {
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(cidr) & mask) >>> 0);
}

const V4_FORBIDDEN: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'this-network'],
  ['127.0.0.0', 8, 'loopback'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

/** Expand an IPv6 address to 8 16-bit groups. */
function ipv6Groups(ip: string): number[] | undefined {
  let s = ip.toLowerCase();
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  if (!/^[0-9a-f:.]+$/.test(s)) return undefined;
  // Trailing dotted IPv4 (::ffff:1.2.3.4).
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return undefined;
    const v = ipv4ToInt(tail);
    s = `${s.slice(0, lastColon + 1)}${(v >>> 16).toString(16)}:${(v & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  if ([...head, ...rest].some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  if (halves.length === 2 && fill < 1) return undefined;
  const groups = [...head, ...Array<string>(Math.max(fill, 0)).fill('0'), ...rest].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

function forbiddenV6(g: number[]): string | undefined {
  const [a, b, c, d, e, f, g6, h] = g as [number, number, number, number, number, number, number, number];
  const v4 = `${g6 >>> 8}.${g6 & 0xff}.${h >>> 8}.${h & 0xff}`;
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0) {
    if (f === 0xffff) return forbiddenAddressKind(v4) && `IPv4-mapped ${forbiddenAddressKind(v4)}`; // ::ffff:a.b.c.d
    if (f === 0 && g6 === 0 && (h === 0 || h === 1)) return h === 0 ? 'unspecified' : 'loopback';
    if (f === 0) return 'IPv4-compatible (deprecated)';
  }
  if (a === 0x64 && b === 0xff9b) return forbiddenAddressKind(v4) && `NAT64 ${forbiddenAddressKind(v4)}`; // 64:ff9b::/96
  if (a === 0x2002) return forbiddenAddressKind(`${b >>> 8}.${b & 0xff}.${c >>> 8}.${c & 0xff}`) && '6to4 of a forbidden address';
  if ((a & 0xfe00) === 0xfc00) return 'unique-local (private)';
  if ((a & 0xffc0) === 0xfe80) return 'link-local';
  if ((a & 0xffc0) === 0xfec0) return 'site-local';
  if ((a & 0xff00) === 0xff00) return 'multicast';
  return undefined;
}

/** Why an address is forbidden (loopback, private, link-local, ...), or undefined when it is public. */
export function forbiddenAddressKind(ip: string): string | undefined {
  if (isIPv4(ip)) {
    for (const [cidr, bits, kind] of V4_FORBIDDEN) if (inV4(ip, cidr, bits)) return kind;
    if (ip === '255.255.255.255') return 'broadcast';
    return undefined;
  }
  if (!ip.includes(':')) return 'not an IP address';
  const g = ipv6Groups(ip);
  if (!g) return 'unparseable IPv6 address';
  return forbiddenV6(g);
}

// ---------------------------------------------------------------------------------------------
// Trusted hosts

export interface HostPattern {
  host: string;
  wildcard: boolean;
  port?: number;
}

export function parsePattern(p: string): HostPattern {
  const s = p.trim().toLowerCase();
  let host = s;
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1]!;
    port = bracket[2] !== undefined ? Number(bracket[2]) : undefined;
  } else {
    const m = /^([^:]+):(\d+)$/.exec(s);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
  }
  const wildcard = host.startsWith('*.');
  return port === undefined ? { host: wildcard ? host.slice(1) : host, wildcard } : { host: wildcard ? host.slice(1) : host, wildcard, port };
}

/**
 * Why a trusted-host entry can never match (a scheme, a path, a bad port), or undefined when it is
 * one of the forms above. Catches "http://store:8080", which would otherwise trust nothing.
 */
export function trustedHostProblem(entry: string): string | undefined {
  const s = entry.trim().toLowerCase();
  if (isIPv6(s)) return undefined;
  const m = /^(?:\[([0-9a-f:.]+)\]|(\*\.)?([a-z0-9_-]+(?:\.[a-z0-9_-]+)*))(?::(\d{1,5}))?$/.exec(s);
  if (!m || (m[1] !== undefined && !isIPv6(m[1]))) return `"${entry}" is not host, host:port, *.domain or [IPv6]:port (no scheme, no path)`;
  if (m[4] !== undefined && (Number(m[4]) < 1 || Number(m[4]) > 65535)) return `"${entry}" has port ${m[4]}, outside 1-65535`;
  return undefined;
}

export function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

export function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

export function matchesTrusted(patterns: readonly HostPattern[], url: URL): boolean {
  const host = bareHost(url);
  const port = defaultPort(url);
  return patterns.some(
    (p) => (p.wildcard ? host.endsWith(p.host) && host.length > p.host.length : host === p.host) && (p.port === undefined || p.port === port),
  );
}

/** A URL for messages and logs: no user:password, no query (a presigned URL's query is a credential). */
export function redact(url: URL): string {
  const u = new URL(url.href);
  u.username = '';
  u.password = '';
  // A literal ellipsis: URL would percent-encode it (%E2%80%A6).
  const query = u.search ? '?…' : '';
  u.search = '';
  u.hash = '';
  return `${u.href}${query}`;
}

/** The first problem of a redirect hop from `from` to `to`, or undefined when it may be followed. */
export function redirectProblem(from: URL, to: URL, toTrusted: boolean): string | undefined {
  if (to.protocol !== 'http:' && to.protocol !== 'https:') return `redirects to scheme '${to.protocol}'; only http(s) redirects are followed`;
  if (from.protocol === 'https:' && to.protocol === 'http:' && !toTrusted) return `redirects from https to plain http (${redact(to)}); refused`;
  return undefined;
}
