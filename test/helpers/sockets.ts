/**
 * Unix sockets as entries of a test's source tree: the one kind of entry (besides devices,
 * which need root to make) that a backup skips with a warning. Node removes a socket's file
 * when its server closes, so each stays listening until the test lets it go.
 */
import { createServer, type Server } from "node:net";

/** Listens on a socket at each path; the returned function closes them (removing the files). */
export async function listeningSockets(
  paths: readonly string[],
): Promise<() => Promise<void>> {
  const servers: Server[] = [];
  for (const path of paths) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, resolve);
    });
    servers.push(server);
  }
  return async () => {
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => {
              resolve();
            });
          }),
      ),
    );
  };
}
