import t from 'tap'
import { Extensions, peerExtensionId, sendExtension, type Extension } from '../lib/peers/extensions.js'
import { decodeExtendedHandshake, type ExtendedHandshake } from '../lib/wire/index.js'
import { rawPeer, tick } from './helpers/raw-peer.js'

function recorder (name: string, extra?: Record<string, unknown>): Extension & { log: unknown[][] } {
  const log: unknown[][] = []
  return {
    name,
    log,
    ...(extra !== undefined ? { handshakeFields: () => extra } : {}),
    onHandshake: (_wire, id) => { log.push(['handshake', id]) },
    onMessage: (_wire, payload) => { log.push(['message', payload.toString()]) },
    onClose: () => { log.push(['close']) }
  }
}

t.test('our handshake composes `m` from every extension, ids in order from 1, plus their own fields', async (t) => {
  const pex = recorder('ut_pex')
  const metadata = recorder('ut_metadata', { metadata_size: 31337 })
  const ext = new Extensions([pex, null, metadata])
  t.same(ext.handshake({ p: 6881, v: 'zt' }), { p: 6881, v: 'zt', metadata_size: 31337, m: { ut_pex: 1, ut_metadata: 2 } })
  t.equal(ext.localId('ut_metadata'), 2)
  t.equal(ext.localId('lt_donthave'), 0)
  t.same(new Extensions([{ ...pex, localId: 7 }]).handshake(), { m: { ut_pex: 7 } })
  t.throws(() => new Extensions([pex, recorder('ut_pex')]), { code: 'BAD_ARGUMENT' })
  t.throws(() => new Extensions([{ ...pex, localId: 1 }, { ...metadata, localId: 1 }]), { code: 'BAD_ARGUMENT' })
  t.throws(() => new Extensions([{ ...pex, localId: 256 }]), { code: 'BAD_ARGUMENT' })

  // what goes out on the wire is what the peer decodes
  const peer = rawPeer()
  ext.attach(peer.wire)
  peer.handshake()
  peer.wire.extendedHandshake(ext.handshake({ p: 6881 }))
  await tick()
  const hs = peer.sent.find((f) => f.type === 'extended' && f.id === 0)
  t.ok(hs !== undefined && hs.type === 'extended')
  if (hs?.type === 'extended') t.match(decodeExtendedHandshake(hs.payload), { p: 6881, metadata_size: 31337, m: { ut_pex: 1, ut_metadata: 2 } })
})

t.test('messages go to the extension our id names; the peer\'s ids are used to send; unknown ids are ignored', async (t) => {
  const pex = recorder('ut_pex')
  const metadata = recorder('ut_metadata')
  const ext = new Extensions([pex, metadata])
  const peer = rawPeer()
  ext.attach(peer.wire)
  peer.handshake({ m: { ut_metadata: 3, ut_pex: 9 } })
  t.same(pex.log, [['handshake', 9]])
  t.same(metadata.log, [['handshake', 3]])
  peer.message({ type: 'extended', id: 1, payload: Buffer.from('to pex') }, 'bytes')
  peer.message({ type: 'extended', id: 2, payload: Buffer.from('to metadata') }, 'odd')
  peer.message({ type: 'extended', id: 42, payload: Buffer.from('nobody') })
  t.same(pex.log.slice(1), [['message', 'to pex']])
  t.same(metadata.log.slice(1), [['message', 'to metadata']])
  t.equal(peerExtensionId(peer.wire, 'ut_pex'), 9)
  t.ok(sendExtension(peer.wire, 'ut_pex', Buffer.from('hello')))
  t.notOk(sendExtension(peer.wire, 'lt_donthave', Buffer.from('x')), 'the peer does not have it: nothing sent')
  await tick()
  t.same(peer.extended().map((m) => [m.id, m.payload.toString()]), [[9, 'hello']])
  // the peer turns ut_pex off with a new handshake (id 0)
  peer.message({ type: 'extended', id: 0, payload: Buffer.from('d1:md6:ut_pexi0eee') })
  t.same(pex.log.at(-1), ['handshake', 0])
  t.notOk(sendExtension(peer.wire, 'ut_pex', Buffer.from('x')))
  peer.wire.destroy()
  await tick()
  t.same(pex.log.at(-1), ['close'])
  t.same(metadata.log.at(-1), ['close'])
})

t.test('a handshake that arrived before attach is delivered at attach', async (t) => {
  const pex = recorder('ut_pex')
  const peer = rawPeer()
  peer.handshake({ m: { ut_pex: 4 } } satisfies ExtendedHandshake)
  t.same(pex.log, [])
  const detach = new Extensions([pex]).attach(peer.wire)
  t.same(pex.log, [['handshake', 4]])
  detach()
  peer.message({ type: 'extended', id: 1, payload: Buffer.from('late') })
  t.same(pex.log, [['handshake', 4]], 'detached: nothing more')
})
