import t from 'tap'
import {
  classifyHost,
  decodeCompact,
  encodeCompact,
  isLocalHost,
  isUndialable,
  normalizeAddress,
  normalizeHost,
  parseHostPort,
  parseHostPortList,
  peerKey
} from '../lib/peers/address.js'

t.test('one spelling per address: IPv4-mapped IPv6 is IPv4, IPv6 takes its RFC 5952 form', async (t) => {
  const same: Array<[string, string]> = [
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:102:304', '1.2.3.4'],
    ['[::ffff:127.0.0.1]', '127.0.0.1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['[::1]', '::1'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329'],
    ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
    ['LocalHost', 'localhost'],
    ['seed.example', 'seed.example']
  ]
  for (const [input, expected] of same) t.equal(normalizeHost(input), expected, input)
  for (const bad of ['01.2.3.4', '1.2.3', '256.1.1.1', '0x7f.1.1.1', '1.2.3.04', 'fe80::1%eth0', 'a b', '', '-x.example', 'host.123']) {
    t.equal(normalizeHost(bad), null, `refused: ${JSON.stringify(bad)}`)
  }
  t.same(normalizeAddress({ host: '::ffff:10.0.0.1', port: 6881 }), { host: '10.0.0.1', port: 6881 })
  for (const port of [0, -1, 65536, 1.5, NaN]) t.equal(normalizeAddress({ host: '1.2.3.4', port }), null, `port ${port}`)
  t.equal(peerKey({ host: '::1', port: 80 }), '[::1]:80')
  t.equal(peerKey({ host: '1.2.3.4', port: 80 }), '1.2.3.4:80')
})

t.test('address kinds follow the special-purpose registries', async (t) => {
  const kinds: Array<[string, ReturnType<typeof classifyHost>]> = [
    ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'], ['::', 'unspecified'],
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['::1', 'loopback'],
    ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'], ['fd00::1', 'private'], ['fc00::1', 'private'],
    ['169.254.1.1', 'link-local'], ['fe80::1', 'link-local'], ['febf::1', 'link-local'],
    ['224.0.0.1', 'multicast'], ['239.192.152.143', 'multicast'], ['ff15::efc0:988f', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'], ['192.0.2.1', 'reserved'], ['198.51.100.7', 'reserved'], ['203.0.113.9', 'reserved'],
    ['198.18.0.1', 'reserved'], ['2001:db8::1', 'reserved'],
    ['8.8.8.8', 'public'], ['172.32.0.1', 'public'], ['172.15.0.1', 'public'], ['100.128.0.1', 'public'],
    ['2a00:1450::1', 'public'], ['fec0::1', 'public'],
    ['localhost', 'hostname']
  ]
  for (const [host, kind] of kinds) t.equal(classifyHost(host), kind, host)
  t.ok(isLocalHost('127.0.0.1') && isLocalHost('10.0.0.1') && isLocalHost('fe80::1'))
  t.notOk(isLocalHost('8.8.8.8') || isLocalHost('224.0.0.1') || isLocalHost('localhost'))
  t.ok(isUndialable('0.0.0.0') && isUndialable('239.1.1.1') && isUndialable('255.255.255.255') && isUndialable('203.0.113.1'))
  t.notOk(isUndialable('127.0.0.1') || isUndialable('8.8.8.8'))
})

t.test('HOST:PORT parsing for --peer and --dht-bootstrap', async (t) => {
  t.same(parseHostPort('127.0.0.1:6881'), { host: '127.0.0.1', port: 6881 })
  t.same(parseHostPort(' [::1]:7000 '), { host: '::1', port: 7000 })
  t.same(parseHostPort('Router.Example:6881'), { host: 'router.example', port: 6881 })
  t.same(parseHostPort('10.0.0.2', 6771), { host: '10.0.0.2', port: 6771 })
  t.same(parseHostPort('[::ffff:1.2.3.4]', 1), { host: '1.2.3.4', port: 1 })
  t.same(parseHostPortList('127.0.0.1:1, [::1]:2,,localhost:3'), [
    { host: '127.0.0.1', port: 1 }, { host: '::1', port: 2 }, { host: 'localhost', port: 3 }
  ])
  for (const bad of ['127.0.0.1', '::1:6881', '1.2.3.4:0', '1.2.3.4:65536', '1.2.3.4:x', '[::1]:', ':6881', '01.2.3.4:1']) {
    t.throws(() => parseHostPort(bad), { code: 'BAD_ARGUMENT' }, bad)
  }
})

t.test('compact entries round-trip; a trailing partial entry is not read; the limit is honoured', async (t) => {
  const v4 = [{ host: '1.2.3.4', port: 6881 }, { host: '127.0.0.1', port: 1 }, { host: '255.255.255.255', port: 65535 }]
  const bytes4 = Buffer.concat(v4.map(encodeCompact))
  t.equal(bytes4.length, 18)
  t.same(decodeCompact(bytes4, 4, 100), v4)
  t.same(decodeCompact(Buffer.concat([bytes4, Buffer.from([9, 9, 9])]), 4, 100), v4, 'partial tail ignored')
  t.same(decodeCompact(bytes4, 4, 2), v4.slice(0, 2))
  const v6 = [{ host: '::1', port: 2 }, { host: '2a00:1450::1', port: 443 }]
  const bytes6 = Buffer.concat(v6.map(encodeCompact))
  t.equal(bytes6.length, 36)
  t.same(decodeCompact(bytes6, 6, 100), v6)
  const mapped = encodeCompact({ host: '::ffff:9.8.7.6', port: 5 })
  t.same(decodeCompact(mapped, 6, 1), [{ host: '9.8.7.6', port: 5 }], 'mapped IPv6 comes out as IPv4')
  t.same(decodeCompact(Buffer.from([1, 2, 3, 4, 0, 0]), 4, 1), [{ host: '1.2.3.4', port: 0 }], 'port 0 kept for the caller to count')
  t.throws(() => encodeCompact({ host: 'localhost', port: 1 }), { code: 'BAD_ARGUMENT' })
})
