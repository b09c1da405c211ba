import t from 'tap'
import { createHash } from 'node:crypto'
import { dialTcp } from '../lib/wire/connect.js'
import { mseInitiate, type EncryptionPolicy, type MseMethod } from '../lib/wire/mse/index.js'
import { seededRandomBytes, until } from './helpers/mse.js'
import { startMseServer } from './helpers/mse-server.js'
import { downloadWire } from './helpers/wire-peers.js'

const PIECE_LENGTH = 16384
const DATA = seededRandomBytes(8)(3 * PIECE_LENGTH + 100)
const INFO_HASH = createHash('sha1').update('accept').digest()
const TORRENT = { infoHash: INFO_HASH, data: DATA, pieceLength: PIECE_LENGTH }

/** Connect as a client: plain, or MSE offering `methods`; download everything or report the error code. */
async function client (port: number, how: 'plain' | MseMethod[], infoHash = INFO_HASH): Promise<{ data: Buffer } | { error: string }> {
  const socket = await dialTcp('127.0.0.1', port, 5000)
  try {
    const stream = how === 'plain' ? socket : (await mseInitiate(socket, { infoHash, methods: how, timeoutMs: 5000 })).stream
    return { data: await downloadWire(stream, infoHash, DATA.length, PIECE_LENGTH) }
  } catch (err) {
    socket.destroy()
    return { error: (err as { code?: string }).code ?? (err as Error).message }
  }
}

const TABLE: Array<[EncryptionPolicy, 'plain' | MseMethod[], MseMethod | null | string]> = [
  ['prefer', 'plain', null],
  ['prefer', ['rc4', 'plaintext'], 'plaintext'], // libtorrent's default (prefer_rc4 false): the least bit
  ['prefer', ['rc4'], 'rc4'],
  ['prefer', ['plaintext'], 'plaintext'],
  ['require', 'plain', 'MSE_REQUIRED'],
  ['require', ['rc4', 'plaintext'], 'rc4'],
  ['require', ['plaintext'], 'MSE_NO_METHOD'],
  ['disable', 'plain', null],
  ['disable', ['rc4'], 'MSE_DISABLED']
]

for (const [policy, how, expected] of TABLE) {
  const label = how === 'plain' ? 'a plain connection' : `MSE offering ${how.join('+')}`
  const outcome = typeof expected === 'string' && expected.startsWith('MSE_') ? `is dropped (${expected})` : `downloads (${expected ?? 'plain'})`
  t.test(`policy ${policy}: ${label} ${outcome}`, async t => {
    const server = await startMseServer(t, TORRENT, { policy, timeoutMs: 5000 })
    const result = await client(server.port, how)
    await until(() => server.outcomes.length === 1, 5000, 'the server to decide')
    if (typeof expected === 'string' && expected.startsWith('MSE_')) {
      t.same(server.outcomes[0], { error: expected }, 'the server dropped it with its code')
      t.ok('error' in result, 'the client did not get through')
    } else {
      t.same(server.outcomes[0], { method: expected })
      t.ok('data' in result && result.data.equals(DATA), 'every byte arrived', { result: 'error' in result ? result.error : 'data' })
    }
  })
}

t.test('an MSE connection for a torrent we do not have is UNKNOWN_INFO_HASH', async t => {
  const server = await startMseServer(t, TORRENT)
  const result = await client(server.port, ['rc4'], createHash('sha1').update('other').digest())
  await until(() => server.outcomes.length === 1, 5000, 'the server to decide')
  t.same(server.outcomes[0], { error: 'UNKNOWN_INFO_HASH' })
  t.ok('error' in result)
})
