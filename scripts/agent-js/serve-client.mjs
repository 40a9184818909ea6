// A client of `ic-backup serve` written as any agent-js user writes one:
// @dfinity/agent fetches the root key, calls a query and updates on the
// served profiles canister (v3 synchronous call, and v2 with polling), and
// verifies every certificate and query signature with its own code.
//
//   node serve-client.mjs <url> <canister id>
//
// Prints one JSON line with what it saw; exits non-zero on any failure.
import { Actor, CanisterStatus, Certificate, HttpAgent, lookupResultToBuffer, pollForResponse } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Ed25519KeyIdentity } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';

const [url, canisterText] = process.argv.slice(2);
if (!url || !canisterText) {
  console.error('usage: node serve-client.mjs <url> <canister id>');
  process.exit(2);
}
const canisterId = Principal.fromText(canisterText);
// A fixed key, so the test knows the principal.
const identity = Ed25519KeyIdentity.generate(new Uint8Array(32).fill(3));
const agent = await HttpAgent.create({ host: url, identity, shouldFetchRootKey: true });

const Profile = IDL.Record({
  updated_time_msecs: IDL.Opt(IDL.Nat64),
  username: IDL.Opt(IDL.Text),
  password: IDL.Opt(IDL.Text),
  email: IDL.Opt(IDL.Text),
});
const idlFactory = ({ IDL }) =>
  IDL.Service({
    get_profile: IDL.Func([], [IDL.Opt(Profile)], ['query']),
    set_profile: IDL.Func([Profile], [], []),
  });
const actor = Actor.createActor(idlFactory, { agent, canisterId });
const profile = (name) => ({ username: [name], email: [], password: [], updated_time_msecs: [] });
const name = (found) => (found.length ? found[0].username[0] : null);

const before = name(await actor.get_profile());
// An update through the v3 endpoint: its certificate is verified by the agent.
await actor.set_profile(profile('carol'));
const afterSync = name(await actor.get_profile());

// An update through the v2 endpoint, its status polled with read_state.
const { requestId, response } = await agent.call(canisterId, {
  methodName: 'set_profile',
  arg: IDL.encode([Profile], [profile('carol v2')]),
  callSync: false,
});
if (response.status !== 202) throw new Error(`v2 call: expected 202, found ${response.status}`);
await pollForResponse(agent, canisterId, requestId);
const afterAsync = name(await actor.get_profile());

// The canister's certified facts, each certificate checked by agent-js.
const status = await CanisterStatus.request({
  canisterId,
  agent,
  paths: ['time', 'controllers', 'module_hash', 'candid'],
});

// A certificate checked by hand, and the same one with its signature broken.
const encoder = new TextEncoder();
const { certificate } = await agent.readState(canisterId, { paths: [[encoder.encode('time')]] });
const checked = await Certificate.create({ certificate, rootKey: agent.rootKey, canisterId });
const time = lookupResultToBuffer(checked.lookup_path(['time']));
const broken = new Uint8Array(certificate);
// The signature is the last 48 bytes of the CBOR map's `signature` entry.
const at = findSignature(broken);
broken[at + 10] ^= 1;
let brokenRefused = false;
try {
  await Certificate.create({ certificate: broken, rootKey: agent.rootKey, canisterId });
} catch (error) {
  brokenRefused = true;
}

console.log(
  JSON.stringify({
    principal: identity.getPrincipal().toText(),
    before,
    after_sync: afterSync,
    after_async: afterAsync,
    time_bytes: time ? time.length : 0,
    status_time: status.get('time') instanceof Date,
    controllers: (status.get('controllers') || []).map((p) => p.toText()),
    module_hash: status.get('module_hash'),
    candid_has_get_profile: String(status.get('candid') || '').includes('get_profile'),
    broken_refused: brokenRefused,
  }),
);

// Where the 48 signature bytes start: after the CBOR text "signature" and
// the byte-string header (0x58 0x30).
function findSignature(bytes) {
  const key = encoder.encode('signature');
  for (let i = 0; i + key.length + 2 < bytes.length; i++) {
    if (key.every((b, j) => bytes[i + j] === b) && bytes[i + key.length] === 0x58 && bytes[i + key.length + 1] === 0x30) {
      return i + key.length + 2;
    }
  }
  throw new Error('no signature in the certificate');
}
