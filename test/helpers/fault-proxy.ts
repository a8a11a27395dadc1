/**
 * A TCP proxy of our own on 127.0.0.1, put between the code under test and a real server
 * (SFTP, S3, PostgreSQL) to make real network faults: pass, delay, stall (stop forwarding in both
 * directions while the TCP connections stay open), or cut every connection, at once or after a
 * number of bytes went upstream ("mid-transfer"). Nothing ever leaves loopback.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export type ProxyMode =
  | { kind: 'pass' }
  | { kind: 'delay'; ms: number }
  | { kind: 'stall' }
  | { kind: 'refuse' };

export interface FaultProxy {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Bytes forwarded client → server and server → client since the proxy started. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now (either side not yet closed). */
  readonly open: number;
  /** Forward everything (flushes what a stall held back). */
  pass(): void;
  /** Forward each chunk after `ms`. */
  delay(ms: number): void;
  /** Stop forwarding in both directions; connections stay open, new ones are accepted and stalled. */
  stall(): void;
  /** Accept and close new connections at once (the server "is down"). */
  refuse(): void;
  /** Destroys every open connection (both sides) now. */
  cut(): void;
  /** Once `bytes` more have gone upstream (client → server), apply `then` (default: stall). */
  after(bytes: number, then: 'stall' | 'cut'): Promise<void>;
  /**
   * Every connection, present and future, stalls on its own once `bytes` of it went upstream
   * (every attempt freezes mid-upload, past its handshake); `pass()` lifts it. Resolves at the
   * first such stall.
   */
  stallEachAfter(bytes: number): Promise<void>;
  /** Connections that stalled under `stallEachAfter` so far. */
  readonly stalledConnections: number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
  held: { to: Socket; chunk: Buffer }[];
  /** Bytes of this connection forwarded upstream. */
  up: number;
  /** Stalled on its own (stallEachAfter). */
  stalled: boolean;
}

/** Starts a proxy to `target` on a free loopback port. */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  if (target.host !== '127.0.0.1' && target.host !== 'localhost')
    throw new Error(`fault proxy: target ${target.host} is not loopback; tests never leave 127.0.0.1`);
  let mode: ProxyMode = { kind: 'pass' };
  const pairs = new Set<Pair>();
  let bytesUp = 0;
  let bytesDown = 0;
  let accepted = 0;
  let trigger: { at: number; then: 'stall' | 'cut'; resolve: () => void } | undefined;
  let eachAfter: { bytes: number; resolve: () => void } | undefined;
  let stalledConnections = 0;

  const forward = (pair: Pair, to: Socket, chunk: Buffer, upstream: boolean) => {
    if (mode.kind === 'stall' || pair.stalled) {
      pair.held.push({ to, chunk });
      return;
    }
    if (upstream && eachAfter && pair.up + chunk.length > eachAfter.bytes) {
      // Forward up to the limit, hold the rest: this connection is frozen from here on.
      const room = Math.max(0, eachAfter.bytes - pair.up);
      const rule = eachAfter;
      eachAfter = undefined; // lets the part within the limit through below
      if (room > 0) forward(pair, to, chunk.subarray(0, room), upstream);
      eachAfter = rule;
      pair.stalled = true;
      stalledConnections++;
      rule.resolve();
      pair.held.push({ to, chunk: chunk.subarray(room) });
      return;
    }
    if (upstream) {
      bytesUp += chunk.length;
      pair.up += chunk.length;
    } else bytesDown += chunk.length;
    if (mode.kind === 'delay') {
      const ms = mode.ms;
      setTimeout(() => to.destroyed || to.write(chunk), ms);
    } else if (!to.destroyed) to.write(chunk);
    if (upstream && trigger && bytesUp >= trigger.at) {
      const fired = trigger;
      trigger = undefined;
      if (fired.then === 'cut') cutAll();
      else mode = { kind: 'stall' };
      fired.resolve();
    }
  };

  const cutAll = () => {
    for (const pair of pairs) {
      pair.client.destroy();
      pair.server.destroy();
    }
    pairs.clear();
  };

  const server: Server = createServer((client) => {
    accepted++;
    if (mode.kind === 'refuse') {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = tcpConnect({ host: target.host, port: target.port, noDelay: true });
    const pair: Pair = { client, server: upstream, held: [], up: 0, stalled: false };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => forward(pair, upstream, chunk, true));
    upstream.on('data', (chunk: Buffer) => forward(pair, client, chunk, false));
    // A stalled connection must not end either: ends are forwarded only while passing.
    client.on('end', () => mode.kind !== 'stall' && !pair.stalled && upstream.end());
    upstream.on('end', () => mode.kind !== 'stall' && !pair.stalled && client.end());
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no port');

  return {
    host: '127.0.0.1',
    port: address.port,
    get bytesUp() {
      return bytesUp;
    },
    get bytesDown() {
      return bytesDown;
    },
    get open() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    get stalledConnections() {
      return stalledConnections;
    },
    pass() {
      mode = { kind: 'pass' };
      eachAfter = undefined;
      for (const pair of pairs) {
        pair.stalled = false;
        const held = pair.held.splice(0);
        for (const { to, chunk } of held) {
          if (to === pair.server) bytesUp += chunk.length;
          else bytesDown += chunk.length;
          if (!to.destroyed) to.write(chunk);
        }
      }
    },
    delay(ms) {
      mode = { kind: 'delay', ms };
    },
    stall() {
      mode = { kind: 'stall' };
    },
    refuse() {
      mode = { kind: 'refuse' };
    },
    cut: cutAll,
    stallEachAfter(bytes) {
      return new Promise<void>((resolve) => {
        let first = true;
        eachAfter = {
          bytes,
          resolve: () => {
            if (first) resolve();
            first = false;
          },
        };
      });
    },
    after(bytes, then) {
      return new Promise<void>((resolve) => {
        trigger = { at: bytesUp + bytes, then, resolve };
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        cutAll();
        server.close(() => resolve());
      }),
  };
}
