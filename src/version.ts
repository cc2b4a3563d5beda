// The version every executable reports (--version) and romanad serves (GET /version): package.json's,
// bundled in at build time.
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
