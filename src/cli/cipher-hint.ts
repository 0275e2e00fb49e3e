/**
 * The ssh cipher hint of one connection (store/remote/connection.ts), kept in the client cache:
 * the server's earlier answer is read only when the ssh store asks for it, and this
 * connection's answer is held until the caller may write the cache (saveTo: after the unlock,
 * or after init), so that a refused repository leaves no cache behind.
 */
import {
  type ClientCache,
  type ConnectionHints,
  readConnectionHints,
} from "../repo/index.js";
import type { CipherHint } from "../store/index.js";

export class CachedCipherHint implements CipherHint {
  #heard: boolean | undefined;

  private constructor(
    private readonly readEarlier: () => boolean | undefined,
  ) {}

  /** `hints`: the location's cached hints when the caller has read them already. */
  static of(
    cacheRoot: string,
    locationKey: string,
    hints?: ConnectionHints,
  ): CachedCipherHint {
    return new CachedCipherHint(
      () => (hints ?? readConnectionHints(cacheRoot, locationKey)).serverHasAes,
    );
  }

  earlier(): boolean | undefined {
    return this.readEarlier();
  }

  heard(serverHasAes: boolean): void {
    this.#heard = serverHasAes;
  }

  /** Keeps what the server said this time for the next connection's cipher choice. */
  saveTo(cache: ClientCache): void {
    if (this.#heard !== undefined) cache.saveServerAesHint(this.#heard);
  }
}
