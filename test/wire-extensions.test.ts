import t from 'tap'
import { composeExtendedHandshake, LOCAL_EXTENSION_IDS, peerExtensionId } from '../lib/wire/extensions.js'

t.test('parts merge into one handshake: every m entry, every other key once', async (t) => {
  const dict = composeExtendedHandshake([
    { m: { ut_metadata: LOCAL_EXTENSION_IDS.ut_metadata }, metadata_size: 1234 },
    { m: { ut_pex: LOCAL_EXTENSION_IDS.ut_pex } },
    { p: 6881 },
    { m: { ut_metadata: LOCAL_EXTENSION_IDS.ut_metadata } }
  ])
  t.same(dict, { m: { ut_metadata: 2, ut_pex: 1 }, metadata_size: 1234, p: 6881 })
  t.same(composeExtendedHandshake([]), { m: {} })
  t.same(composeExtendedHandshake([{ m: { lt_donthave: 0 } }, { m: { ut_holepunch: 0 } }]).m, { lt_donthave: 0, ut_holepunch: 0 },
    'id 0 (disabled) may repeat')
})

t.test('conflicting parts are a programming error', async (t) => {
  t.throws(() => composeExtendedHandshake([{ m: { ut_pex: 1 } }, { m: { ut_pex: 3 } }]), { code: 'BAD_ARGUMENT', message: /two ids/ })
  t.throws(() => composeExtendedHandshake([{ m: { ut_pex: 1 } }, { m: { ut_metadata: 1 } }]), { code: 'BAD_ARGUMENT', message: /both ut_pex and ut_metadata/ })
  t.throws(() => composeExtendedHandshake([{ metadata_size: 1 }, { metadata_size: 2 }]), { code: 'BAD_ARGUMENT', message: /metadata_size/ })
  t.same(composeExtendedHandshake([{ yourip: Buffer.from([127, 0, 0, 1]) }, { yourip: Buffer.from([127, 0, 0, 1]) }]).yourip,
    Buffer.from([127, 0, 0, 1]), 'equal buffers agree')
})

t.test('the peer\'s id for an extension: absent or 0 means it does not speak it', async (t) => {
  t.equal(peerExtensionId({ peerExtended: null }, 'ut_metadata'), null, 'no handshake yet')
  t.equal(peerExtensionId({ peerExtended: { m: { ut_metadata: 3 } } }, 'ut_metadata'), 3)
  t.equal(peerExtensionId({ peerExtended: { m: { ut_metadata: 0 } } }, 'ut_metadata'), null, 'BEP 10: 0 disables')
  t.equal(peerExtensionId({ peerExtended: { m: {} } }, 'ut_metadata'), null)
})
