// Loads uWebSockets.js (npm `@btc-vision/uwebsockets.js`, a republished build of uWS.js v20.57)
// for the benchmark reference server bench/reference-uws.mjs. Benchmark only, never the product.
//
// The prebuilt binary imports three C23 aliases from glibc 2.38 (`__isoc23_strtol`,
// `__isoc23_strtoul`, `__isoc23_sscanf`); Debian 12 has glibc 2.36, so `require` fails with
// "version `GLIBC_2.38' not found". Then this writes a copy of the binary next to the package
// (node_modules/.cache/uws-glibc/) whose three imports are rebound to the classic `strtol`,
// `strtoul` and `sscanf` (the same for everything uWS parses: no `0b` prefixes), and loads that
// copy with process.dlopen. A port of /work/shared/tools/uws-glibc-patch.py:
//   * each dynamic symbol named `__isoc23_X` is pointed at its own tail `X` (st_name += 9);
//   * the version-needed entry `GLIBC_2.38` is renamed to `GLIBC_2.2.5` (name and hash).
const { mkdirSync, readFileSync, writeFileSync, existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

const PKG = '@btc-vision/uwebsockets.js';

function load() {
  try {
    return { uws: require(PKG), patched: false };
  } catch (err) {
    if (!/GLIBC_2\.38/.test(String(err))) throw err;
  }
  const pkgDir = dirname(require.resolve(PKG)); // uws.js sits next to the binaries
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const cacheDir = join(pkgDir, '..', '..', '.cache', 'uws-glibc');
  const out = join(cacheDir, name);
  if (!existsSync(out)) {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(out, patchGlibc(readFileSync(join(pkgDir, name))));
  }
  const mod = { exports: {} };
  process.dlopen(mod, out);
  return { uws: mod.exports, patched: true };
}

function elfHash(s) {
  let h = 0;
  for (const c of Buffer.from(s)) {
    h = ((h << 4) + c) >>> 0;
    const g = h & 0xf0000000;
    if (g) h ^= g >>> 24;
    h = (h & ~g) >>> 0;
  }
  return h;
}

/** @param {Buffer} b an ELF64 little-endian shared object; returns the patched copy */
function patchGlibc(input) {
  const b = Buffer.from(input);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) throw new Error('uws: need an ELF64 LE binary');
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const shstrndx = b.readUInt16LE(0x3e);
  const cstr = (off) => b.toString('latin1', off, b.indexOf(0, off));
  const secs = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    secs.push({ name: b.readUInt32LE(o), offset: Number(b.readBigUInt64LE(o + 24)), size: Number(b.readBigUInt64LE(o + 32)), info: b.readUInt32LE(o + 44) });
  }
  const by = {};
  for (const s of secs) by[cstr(secs[shstrndx].offset + s.name)] = s;
  const dynsym = by['.dynsym'];
  const dynstr = by['.dynstr'];
  const verneed = by['.gnu.version_r'];
  const PFX = '__isoc23_';
  for (let i = 0; i < dynsym.size / 24; i++) {
    const o = dynsym.offset + i * 24;
    const st = b.readUInt32LE(o);
    if (cstr(dynstr.offset + st).startsWith(PFX)) b.writeUInt32LE(st + PFX.length, o);
  }
  const aux = [];
  let off = verneed.offset;
  for (let n = 0; n < verneed.info; n++) {
    const cnt = b.readUInt16LE(off + 2);
    let a = off + b.readUInt32LE(off + 8);
    for (let k = 0; k < cnt; k++) {
      const nameOff = b.readUInt32LE(a + 8);
      aux.push({ at: a, name: cstr(dynstr.offset + nameOff), nameOff });
      const next = b.readUInt32LE(a + 12);
      if (next === 0) break;
      a += next;
    }
    const next = b.readUInt32LE(off + 12);
    if (next === 0) break;
    off += next;
  }
  const base = aux.find((e) => e.name === 'GLIBC_2.2.5');
  if (!base) throw new Error('uws: no GLIBC_2.2.5 entry to rebind to');
  for (const e of aux) {
    if (e.name !== 'GLIBC_2.38') continue;
    b.writeUInt32LE(elfHash('GLIBC_2.2.5'), e.at);
    b.writeUInt32LE(base.nameOff, e.at + 8);
  }
  return b;
}

module.exports = load();
