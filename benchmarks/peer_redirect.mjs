// Preloaded into cursor-usage-tracker's collector by bench_sync.py --peer (NODE_OPTIONS=--import=<this file>):
// its Cursor client has the base URL https://api.cursor.com built in (no setting), so every fetch() to it is
// sent to the fake vendor at BENCH_CURSOR_API_URL instead. Nothing else is touched; the peer's checkout is
// run unmodified.
const REAL = "https://api.cursor.com";
const target = process.env.BENCH_CURSOR_API_URL;
if (target) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    if (typeof input === "string" && input.startsWith(REAL)) {
      input = target + input.slice(REAL.length);
    } else if (input instanceof URL && input.origin === REAL) {
      input = new URL(input.pathname + input.search, target);
    }
    return realFetch(input, init);
  };
}
