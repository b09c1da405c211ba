/**
 * lib/cli/facts.ts: display facts from a session, peer facts from wires, client names, tracker warnings.
 */
import t from 'tap'
import { clientName, peerFacts, sessionFacts, TrackerWarnings } from '../lib/cli/facts.js'
import { BitField } from '../lib/wire/bitfield.js'
import type { Wire } from '../lib/wire/wire.js'
import type { TorrentStats } from '../lib/torrent.js'

t.test('clientName: the BEP 10 v field first, else the peer id (Azureus style, aria2)', async (t) => {
  const id = (prefix: string): Buffer => Buffer.concat([Buffer.from(prefix, 'latin1'), Buffer.alloc(20 - prefix.length, 0x41)])
  t.equal(clientName(id('-LT2080-'), 'libtorrent/2.0.8'), 'libtorrent/2.0.8')
  t.equal(clientName(id('-LT2080-')), 'libtorrent 2.0.8')
  t.equal(clientName(id('-TR4000-')), 'Transmission 4.0')
  t.equal(clientName(id('-qB4610-')), 'qBittorrent 4.6.1')
  t.equal(clientName(id('-ZT0100-')), 'zentorrent 0.1')
  t.equal(clientName(id('-XX1A00-')), 'XX 1.10', 'unknown codes are shown as they are; letters are digits 10+')
  t.equal(clientName(Buffer.from('A2-1-37-0-abcdefghij', 'latin1')), 'aria2 1.37.0')
  t.equal(clientName(id('M7-1-0--')), '')
  t.equal(clientName(null), '')
  t.equal(clientName(null, Buffer.from('Deluge 2.1')), 'Deluge 2.1', 'a v decoded as bytes')
  t.equal(clientName(null, '  '), '')
})

t.test('TrackerWarnings: one line per failing tracker, gone when it answers; general warnings kept', async (t) => {
  const w = new TrackerWarnings({ maxWarnings: 3 })
  t.same(w.list(), [])
  w.error('http://a/announce', 'connection refused')
  w.error('udp://b:1', 'timed out')
  w.error('http://a/announce', 'connection refused again')
  t.same(w.list(), ['tracker udp://b:1: timed out', 'tracker http://a/announce: connection refused again'], 'one line per tracker, newest last')
  w.response('udp://b:1')
  t.same(w.list(), ['tracker http://a/announce: connection refused again'], 'an answer clears its error')
  w.response('http://a/announce', 'you are using an old client')
  t.same(w.list(), ['tracker http://a/announce warns: you are using an old client'])
  w.warning('no usable tracker: peers must come from elsewhere')
  w.warning('no usable tracker: peers must come from elsewhere')
  t.equal(w.list().length, 2, 'a general warning once')
  for (let i = 0; i < 10; i++) w.error(`http://t${i}/`, 'down')
  t.equal(w.list().length, 3, 'bounded')
  t.equal(w.list().at(-1), 'tracker http://t9/: down')
})

function wire (over: Record<string, unknown>): Wire {
  return {
    peerId: Buffer.from('-LT2080-abcdefghijkl', 'latin1'),
    peerExtended: null,
    amInterested: true,
    amChoking: true,
    peerInterested: false,
    peerChoking: false,
    peerHasAll: false,
    peerPieces: BitField.fromBuffer(Buffer.from([0xf0]), 8),
    downloadRate: () => 1000,
    uploadRate: () => 10,
    ...over
  } as unknown as Wire
}

t.test('peerFacts: one per wire, with the share it has, incoming and source from the caller', async (t) => {
  const facts = peerFacts([['127.0.0.1:1', wire({})], ['[::1]:2', wire({ peerHasAll: true, peerExtended: { v: 'aria2/1.37.0' } })]], {
    pieceCount: 8,
    incoming: (id) => id === '[::1]:2',
    source: (id) => id === '[::1]:2' ? 'dht' : undefined,
    encrypted: (id) => id === '[::1]:2'
  })
  t.same(facts, [
    { address: '127.0.0.1:1', client: 'libtorrent 2.0.8', amInterested: true, amChoking: true, peerInterested: false, peerChoking: false, incoming: false, encrypted: false, downloadRate: 1000, uploadRate: 10, progress: 0.5 },
    { address: '[::1]:2', client: 'aria2/1.37.0', amInterested: true, amChoking: true, peerInterested: false, peerChoking: false, incoming: true, encrypted: true, source: 'dht', downloadRate: 1000, uploadRate: 10, progress: 1 }
  ])
})

t.test('sessionFacts: the name from the metainfo, the rest from stats, extra on top', async (t) => {
  const stats: TorrentStats = {
    pieceCount: 4, piecesHave: 1, piecesWanted: 4, bytesHave: 100, bytesWanted: 400, downloaded: 120, uploaded: 40, wasted: 0,
    downloadRate: 50, uploadRate: 5, peersConnected: 2, peersKnown: 9, endgame: false, done: false
  }
  const session = { name: 'x.iso', stats: () => stats }
  const f = sessionFacts(session)
  t.equal(f.name, 'x.iso')
  t.equal(f.state, 'downloading')
  t.equal(f.eta, 6, '300 bytes left at 50 B/s')
  t.equal(f.ratio, 0.1)
  t.same(f.peers, { connected: 2, known: 9 })
  t.equal(sessionFacts(session, { state: 'stalled', retryIn: 5 }).state, 'stalled')
  t.equal(sessionFacts({ ...session, stats: () => ({ ...stats, done: true }) }).state, 'seeding')
})
