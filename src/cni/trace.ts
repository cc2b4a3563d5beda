// ROMANA_CNI_TRACE=1 writes the milestones of one call to stderr, in ms since the process started, so
// that bench/cni can show where an ADD's time goes. Off, it costs one environment lookup.
const on = process.env.ROMANA_CNI_TRACE === '1';

export function trace(what: string): void {
  if (on) process.stderr.write(`romana-cni trace ${what} ${performance.now().toFixed(2)}\n`);
}

/** `p`, with a milestone when it settles. */
export function traced<T>(what: string, p: Promise<T>): Promise<T> {
  return on ? p.finally(() => trace(what)) : p;
}
