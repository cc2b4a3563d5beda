// `romana-cni install`: the launcher names the node that installed it (no `env` process before every
// call, and no dependence on the runtime's PATH), loads the CommonJS bundle beside it, and answers
// VERSION when executed directly, as a runtime executes it, with an empty PATH.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { launcher } from '../../src/cni/install.js';
import { ROOT } from './env.js';

const dir = mkdtempSync(join(tmpdir(), 'rcni-install-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('romana-cni install', () => {
  it('writes a launcher for this node and the bundle; the runtime runs it without PATH', () => {
    execFileSync(process.execPath, [join(ROOT, 'dist', 'romana-cni.mjs'), 'install', dir]);
    const first = readFileSync(join(dir, 'romana'), 'utf8').split('\n')[0];
    assert.equal(first, `#!${process.execPath}`);
    const out = execFileSync(join(dir, 'romana'), [], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.1.0"}', encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out).supportedVersions, ['0.4.0', '1.0.0', '1.1.0']);
  });
  it('falls back to env for a node path a #! line cannot hold', () => {
    assert.match(launcher('/opt/my node/bin/node'), /^#!\/usr\/bin\/env node\n/);
    assert.match(launcher('/usr/local/bin/node'), /^#!\/usr\/local\/bin\/node\n/);
  });
});
