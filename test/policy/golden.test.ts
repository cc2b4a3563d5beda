// Golden files pin the compiler's exact output for a few small clusters (every host of each), as each
// dataplane loads it: iptables-restore and ipset restore text, and the nft script.
// Regenerate after an intended change with: UPDATE_GOLDEN=1 node --import tsx --test test/policy/golden.test.ts
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { compileHost } from '../../src/core/policy/compile.js';
import { nftScript, renderNft } from '../../src/core/policy/render-nft.js';

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, 'golden');
const CASES: { name: string; file: string; hosts: string[] }[] = [
  { name: 'example', file: join(here, '../../examples/cluster.yaml'), hosts: ['host1', 'host2'] },
  { name: 'k8s-basics', file: join(GOLDEN, 'k8s-basics.yaml'), hosts: ['node1', 'node2'] },
  { name: 'romana-host', file: join(GOLDEN, 'romana-host.yaml'), hosts: ['h1'] },
  { name: 'layout', file: join(GOLDEN, 'layout.yaml'), hosts: ['h1', 'h2'] },
];

describe('compiler golden files', () => {
  for (const c of CASES) {
    for (const host of c.hosts) {
      it(`${c.name} on ${host}`, () => {
        const out = compileHost(parseCluster(readFileSync(c.file, 'utf8')), host);
        for (const [ext, text] of [['iptables', out.iptables], ['ipset', out.ipset], ['nft', nftScript(renderNft(out.ir))]] as const) {
          const path = join(GOLDEN, `${c.name}.${host}.${ext}`);
          if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, text);
          assert.ok(existsSync(path), `${path} is missing: run with UPDATE_GOLDEN=1`);
          assert.equal(text, readFileSync(path, 'utf8'), `${path} differs (UPDATE_GOLDEN=1 to accept an intended change)`);
        }
      });
    }
  }
});
