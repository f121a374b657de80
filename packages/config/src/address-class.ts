import ipaddr from 'ipaddr.js';

/**
 * Which addresses an outbound request of ours may not reach by default (SSRF): the worker's outbound guard checks
 * every connection with `classifyAddress`, and the edge checks a webhook callback URL with `hostRefusal` when a
 * subscription names it (the same classes, so what delivery would refuse is refused at subscribe already).
 */
export type AddressClass = 'loopback' | 'private' | 'link-local' | 'cloud metadata' | 'reserved';

/** Well-known metadata endpoints: AWS/GCP/Azure/OpenStack (IPv4), AWS (IPv6), ECS task metadata, Alibaba. */
const metadataAddresses = new Set(['169.254.169.254', 'fd00:ec2::254', '169.254.170.2', '100.100.100.200']);
/** Names of metadata services, refused before any DNS lookup. */
const metadataHosts = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
]);

/** Whether a host name (any case, with or without its final dot) is a cloud metadata service's. */
export const isMetadataHost = (host: string): boolean => metadataHosts.has(host.toLowerCase().replace(/\.$/, ''));

function v4FromParts(hi: number, lo: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

function classifyV4(addr: ipaddr.IPv4): AddressClass | undefined {
  switch (addr.range()) {
    case 'unicast':
      return undefined;
    case 'loopback':
      return 'loopback';
    case 'private':
    case 'carrierGradeNat':
      return 'private';
    case 'linkLocal':
      return 'link-local';
    default:
      return 'reserved'; // unspecified (0.0.0.0 reaches this host), broadcast, multicast, documentation, benchmarking…
  }
}

/** The class of an address that must not be reached by default, or `undefined` for a public unicast address. */
export function classifyAddress(ip: string): AddressClass | undefined {
  if (!ipaddr.isValid(ip)) return 'reserved';
  const addr = ipaddr.process(ip); // IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4
  if (metadataAddresses.has(addr.toNormalizedString()) || metadataAddresses.has(addr.toString()))
    return 'cloud metadata';
  if (addr.kind() === 'ipv4') return classifyV4(addr as ipaddr.IPv4);
  const v6 = addr as ipaddr.IPv6;
  const range = v6.range() as string;
  switch (range) {
    case 'unicast':
      // ::/96 (IPv4-compatible, deprecated) is not routable: refused.
      return v6.parts.slice(0, 6).every((p) => p === 0) ? 'reserved' : undefined;
    case 'loopback':
      return 'loopback';
    case 'uniqueLocal':
    case 'deprecatedSiteLocal':
      return 'private';
    case 'linkLocal':
      return 'link-local';
    case 'rfc6052': // NAT64: the IPv4 address is the last 32 bits
      return classifyAddress(v4FromParts(v6.parts[6]!, v6.parts[7]!).toString());
    case '6to4': // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD
      return classifyAddress(v4FromParts(v6.parts[1]!, v6.parts[2]!).toString());
    default:
      return 'reserved'; // unspecified, multicast, Teredo, documentation…
  }
}

/**
 * What can be told of a URL's host without DNS (`URL.hostname`: IPv6 in brackets): an address literal's class, a
 * metadata service's name, or `localhost` and its subdomains (final dot or not) as loopback. `undefined`: a name
 * only its DNS answer can judge (the worker's guard does, at each connection).
 */
export function hostRefusal(hostname: string): AddressClass | undefined {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (ipaddr.isValid(host) && /^[0-9a-f:.]+$/.test(host)) return classifyAddress(host);
  if (isMetadataHost(host)) return 'cloud metadata';
  const name = host.replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') ? 'loopback' : undefined;
}
