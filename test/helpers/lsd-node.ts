/**
 * One LSD participant for the network-namespace test: run inside a namespace with `ip netns exec`, it announces one
 * info hash and prints each peer it hears of as a JSON line. Config (argv[2], JSON): { port, infoHash (hex),
 * ipv4 (interface address), ipv6 (`::%ifname` or null), interval (ms: the test shortens BEP 14's five minutes so
 * two participants started a second apart meet at once; the schedule itself is tested in memory) }.
 * Exits when stdin closes.
 */
import { Lsd } from '../../lib/discovery/lsd.js'

const config = JSON.parse(process.argv[2] ?? '{}') as { port: number, infoHash: string, ipv4: string, ipv6: string | null, interval: number }
const lsd = new Lsd({
  port: config.port,
  interval: config.interval,
  minAnnounceInterval: config.interval / 2,
  ipv6: config.ipv6 !== null,
  interfaces: { ipv4: config.ipv4, ...(config.ipv6 !== null ? { ipv6: config.ipv6 } : {}) }
})
const say = (obj: unknown): void => { process.stdout.write(JSON.stringify(obj) + '\n') }
lsd.on('peer', (address, infoHash) => say({ event: 'peer', host: address.host, port: address.port, infoHash: infoHash.toString('hex') }))
lsd.on('warning', (err) => say({ event: 'warning', message: err.message }))
try {
  await lsd.start()
} catch (err) {
  say({ event: 'error', message: (err as Error).message })
  process.exit(1)
}
lsd.add({ infoHash: Buffer.from(config.infoHash, 'hex'), private: false })
say({ event: 'ready', cookie: lsd.cookie })
process.stdin.on('data', () => {})
process.stdin.on('end', () => { lsd.close(); say({ event: 'stats', ...lsd.stats() }); process.exit(0) })
