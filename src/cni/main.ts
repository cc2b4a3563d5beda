// romana-cni: the CNI plugin executable. Reads CNI_* from the environment and the network configuration
// from stdin, writes one JSON document (result or error) to stdout and exits 0 or 1. Logs never go to
// stdout. `romana-cni install <dir>` installs the plugin into a CNI bin directory as `romana`.
import { fstatSync, readFileSync } from 'node:fs';
import { parseConfig, parseEnv, versionOf } from './config.js';
import { makeLogger } from './log.js';
import { add, check, del, gc, status, versionResult } from './plugin.js';
import { LATEST, render, toErrorResult } from './spec.js';
import { trace } from './trace.js';

function finish(out: unknown, code: number): void {
  trace('done');
  const text = out === undefined ? '' : JSON.stringify(out) + '\n';
  process.exitCode = code;
  // Exit as soon as stdout is flushed: nothing else may keep a per-pod process alive.
  if (text) process.stdout.write(text, () => process.exit(code));
  else process.exit(code);
}

async function main(): Promise<void> {
  if (!process.env.CNI_COMMAND && process.argv[2] === '--version') {
    // A person asking (a runtime asks with CNI_COMMAND=VERSION and gets the spec's JSON).
    const { VERSION } = await import('../version.js');
    return void process.stdout.write(`romana-cni ${VERSION}\n`);
  }
  trace('loaded');
  if (!process.env.CNI_COMMAND && process.argv[2] === 'install') {
    const { install } = await import('./install.js');
    return install(process.argv[3]);
  }
  let stdin = '';
  let cniVersion: string = LATEST;
  try {
    const env = parseEnv(process.env);
    if (env.command === 'VERSION') {
      // 1.x runtimes send {"cniVersion"} on stdin: read it so the writer never hits a closed pipe,
      // but never wait on a terminal.
      const st = fstatSync(0);
      if (st.isFIFO() || st.isFile()) readFileSync(0);
      return finish(versionResult(), 0);
    }
    stdin = readFileSync(0, 'utf8');
    cniVersion = versionOf(stdin);
    const conf = parseConfig(stdin, env.command);
    const log = makeLogger({ file: conf.logFile, level: conf.logLevel, base: { plugin: 'romana-cni', cmd: env.command, cid: env.containerId || undefined } });
    const ctx = { env, conf, log };
    switch (env.command) {
      case 'ADD': return finish(render(await add(ctx), conf.cniVersion), 0);
      case 'DEL': await del(ctx); return finish(undefined, 0);
      case 'CHECK': await check(ctx); return finish(undefined, 0);
      case 'GC': await gc(ctx); return finish(undefined, 0);
      case 'STATUS': await status(ctx); return finish(undefined, 0);
    }
  } catch (e) {
    const err = toErrorResult(e, cniVersion);
    process.stderr.write(`romana-cni: ${err.msg}\n`);
    return finish(err, 1);
  }
}

void main();
