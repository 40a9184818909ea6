// Makes the agent-js-form fixtures of ic-backup/tests/agent_js.rs.
//
// For each case: the values of a map, as `vec record { K; V }`, are encoded
// with @dfinity/candid (what the canister's `backup` reply carries), decoded
// again (what `actor.backup()` gives the article's backup.js) and printed as
// backup.js prints them:
//
//     BigInt.prototype.toJSON = function() { return Number(this); };
//     console.log(JSON.stringify(profiles));
//
// Then the printed text is read back as the article's restore.js reads it,
// `JSON.parse` and the actor's encoder, and the bytes that would be sent (or
// the encoder's refusal) are recorded. Run with `npm ci && npm run fixtures`.
import { IDL } from '@dfinity/candid';
import { Principal } from '@dfinity/principal';
import fs from 'node:fs';
import path from 'node:path';

const out = process.argv[2];
const hex = (bytes) => Buffer.from(bytes).toString('hex');

// The principal of the tests' `principal(n)`: n big-endian, then 25 bytes of 8.
function principal(n) {
  const bytes = new Uint8Array(29).fill(8);
  new DataView(bytes.buffer).setUint32(0, n);
  return Principal.fromUint8Array(bytes);
}

const Profile = IDL.Record({
  updated_time_msecs: IDL.Opt(IDL.Nat64),
  username: IDL.Opt(IDL.Text),
  password: IDL.Opt(IDL.Text),
  email: IDL.Opt(IDL.Text),
});

const cases = [
  {
    name: 'profiles',
    about: 'The article canister profiles map, as its backup.js writes it.',
    key: 'text',
    value: 'record { updated_time_msecs : opt nat64; username : opt text; password : opt text; email : opt text }',
    K: IDL.Text,
    V: Profile,
    entries: Array.from({ length: 40 }, (_, i) => [
      principal(i).toText(),
      {
        updated_time_msecs: i % 3 === 0 ? [] : [1_700_000_000_000n + BigInt(i)],
        username: i % 4 === 1 ? [] : [`user${i} \u00e9\u4e16 "quoted"\n`],
        password: i % 5 === 0 ? [] : ['x'.repeat(i * 7)],
        email: i % 2 === 0 ? [`user${i}@example.org`] : [],
      },
    ]),
  },
  {
    name: 'every-type',
    about: 'Every type with a JSON value in agent-js, all exact; vec int16 is an Int16Array to agent-js.',
    key: 'nat64',
    value: 'record { n8 : nat8; n16 : nat16; n32 : nat32; n64 : nat64; i8 : int8; i16 : int16; i32 : int32; i64 : int64; n : nat; i : int; f32 : float32; f64 : float64; b : bool; t : text; o : opt nat64; oo : opt opt text; ov : opt vec text; v : vec int16; tup : record { int8; text }; var : variant { A; B : nat16; C : record { x : opt bool } }; nul : null; res : reserved; 5 : text }',
    K: IDL.Nat64,
    V: IDL.Record({
      n8: IDL.Nat8, n16: IDL.Nat16, n32: IDL.Nat32, n64: IDL.Nat64,
      i8: IDL.Int8, i16: IDL.Int16, i32: IDL.Int32, i64: IDL.Int64,
      n: IDL.Nat, i: IDL.Int, f32: IDL.Float32, f64: IDL.Float64,
      b: IDL.Bool, t: IDL.Text, o: IDL.Opt(IDL.Nat64), oo: IDL.Opt(IDL.Opt(IDL.Text)),
      ov: IDL.Opt(IDL.Vec(IDL.Text)), v: IDL.Vec(IDL.Int16), tup: IDL.Tuple(IDL.Int8, IDL.Text),
      var: IDL.Variant({ A: IDL.Null, B: IDL.Nat16, C: IDL.Record({ x: IDL.Opt(IDL.Bool) }) }),
      nul: IDL.Null, res: IDL.Reserved, _5_: IDL.Text,
    }),
    entries: [0n, 1n, 2n, 9007199254740991n].map((k, j) => [
      k,
      {
        n8: 255 - j, n16: 65535 - j, n32: 4294967295 - j, n64: 9007199254740991n - BigInt(j),
        i8: -128 + j, i16: -32768 + j, i32: -2147483648 + j, i64: -9007199254740991n + BigInt(j),
        n: 12345678901234n * BigInt(j), i: -42n * BigInt(j),
        f32: [0.1, -2.5, 3.4028234663852886e38, 1.401298464324817e-45][j],
        f64: [1.0, 1e21, 1.5e-7, -123456.789][j],
        b: j % 2 === 0, t: ['', 'tab\there', '\u0001\u001f control', '\u{1F600} emoji'][j],
        o: j === 0 ? [] : [BigInt(j)],
        oo: [[], [[]], [['inner']], []][j],
        ov: [[], [[]], [['a', 'b']], [[]]][j],
        v: [[], [1, -1], [32767], [0, 0, 0]][j],
        tup: [j - 3, `t${j}`],
        var: [{ A: null }, { B: 7 }, { C: { x: [true] } }, { C: { x: [] } }][j],
        nul: null, res: null, _5_: `five${j}`,
      },
    ]),
  },
  {
    name: 'blobs',
    about: 'Blobs: agent-js decodes them to Uint8Array, which JSON.stringify writes as {"0": b, ...} and restore.js cannot send back; the array form it can.',
    key: 'text',
    value: 'record { data : blob; maybe : opt blob; many : vec blob }',
    K: IDL.Text,
    V: IDL.Record({ data: IDL.Vec(IDL.Nat8), maybe: IDL.Opt(IDL.Vec(IDL.Nat8)), many: IDL.Vec(IDL.Vec(IDL.Nat8)) }),
    entries: [
      ['a', { data: new Uint8Array([0, 255, 16]), maybe: [], many: [] }],
      ['b', { data: new Uint8Array([]), maybe: [new Uint8Array([1])], many: [new Uint8Array([2, 3]), new Uint8Array([])] }],
    ],
  },
  {
    name: 'principals',
    about: 'Principals: agent-js writes {"__principal__": text}; restore.js cannot send them back without a reviver.',
    key: 'principal',
    value: 'record { owner : principal; others : vec principal; maybe : opt principal }',
    K: IDL.Principal,
    V: IDL.Record({ owner: IDL.Principal, others: IDL.Vec(IDL.Principal), maybe: IDL.Opt(IDL.Principal) }),
    entries: [
      [Principal.fromText('aaaaa-aa'), { owner: principal(1), others: [], maybe: [] }],
      [principal(2), { owner: Principal.anonymous(), others: [principal(3), principal(4)], maybe: [principal(5)] }],
    ],
  },
  {
    name: 'inexact',
    about: 'Numbers above 2^53 - 1: JavaScript rounds them to the nearest double, and restore.js sends the rounded values.',
    key: 'nat64',
    value: 'record { n64 : nat64; i64 : int64; n : nat; i : int }',
    K: IDL.Nat64,
    V: IDL.Record({ n64: IDL.Nat64, i64: IDL.Int64, n: IDL.Nat, i: IDL.Int }),
    entries: [
      [9007199254740993n, { n64: 9007199254740993n, i64: -9007199254740993n, n: 2n ** 70n + 1n, i: -(10n ** 30n) }],
      [2n ** 60n + 1n, { n64: 2n ** 60n + 1n, i64: -(2n ** 62n) - 1n, n: 10n ** 21n, i: 123456789012345678901n }],
    ],
  },
  {
    name: 'overflow',
    about: 'A nat64 near 2^64 rounds above it: restore.js refuses the file, and so must we.',
    key: 'nat64',
    value: 'nat64',
    K: IDL.Nat64,
    V: IDL.Nat64,
    entries: [[1n, 18446744073709551000n]],
  },
  {
    name: 'nonfinite',
    about: 'NaN and the infinities: JSON.stringify writes null, which restore.js cannot send back.',
    key: 'nat64',
    value: 'float64',
    K: IDL.Nat64,
    V: IDL.Float64,
    entries: [[1n, NaN], [2n, Infinity], [3n, -Infinity]],
  },
];

BigInt.prototype.toJSON = function () { return Number(this); };
fs.mkdirSync(out, { recursive: true });
const index = [];
for (const c of cases) {
  const T = IDL.Vec(IDL.Tuple(c.K, c.V));
  const candid = IDL.encode([T], [c.entries]);
  // What actor.backup() returns, printed as backup.js prints it.
  const [decoded] = IDL.decode([T], candid);
  const text = JSON.stringify(decoded) + '\n';
  fs.writeFileSync(path.join(out, `${c.name}.json`), text);
  // What restore.js sends for that file.
  const restoreJs = (text) => {
    try {
      return { candid: hex(IDL.encode([T], [JSON.parse(text)])) };
    } catch (error) {
      return { error: error.message.split('\n')[0] };
    }
  };
  // agent-js decodes a vector of fixed-size numbers (blobs included) into
  // a typed array, which JSON.stringify writes as {"0": x, ...} and the
  // encoder refuses. The same values with those as arrays: the form
  // restore.js can send, and the one `ic-backup backup --format agent-js` writes.
  const arrays = JSON.stringify(decoded, (_, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v)) + '\n';
  const entry = {
    name: c.name,
    about: c.about,
    key: c.key,
    value: c.value,
    candid: hex(candid),
    restore_js: restoreJs(text),
  };
  if (arrays !== text) {
    fs.writeFileSync(path.join(out, `${c.name}.arrays.json`), arrays);
    entry.arrays_restore_js = restoreJs(arrays);
  }
  index.push(entry);
}
fs.writeFileSync(path.join(out, 'cases.json'), JSON.stringify(index, null, 2) + '\n');
console.log(`${index.length} cases in ${out}`);
