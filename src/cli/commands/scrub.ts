/**
 * `blindsync scrub REPO`: the storage's own check, with no key. A SQLite repository re-hashes
 * every stored blob against the SHA-256 recorded when it was stored; a pack repository (a pack
 * directory, sftp:, s3:) re-hashes every pack and index segment against its name, which is its
 * SHA-256. Either finds bit rot and tampering without anything secret. Authenticity needs the
 * key: that is `check --read-data`.
 */
import { Command } from "commander";
import { BlindsyncError } from "../../errors.js";
import {
  PackStore,
  SqliteStore,
  holdsPackRepository,
  openStore,
  resolveLocation,
} from "../../store/index.js";
import { toHex } from "../../util/bytes.js";
import type { CommandContext } from "../context.js";
import { contextOf } from "./shared.js";
import { plural } from "../output/format.js";

export async function runScrub(
  context: CommandContext,
  path: string,
): Promise<number> {
  const location = resolveLocation(path);
  if (location.kind === "local" && !holdsPackRepository(location.path))
    return scrubSqlite(context, location.path);
  if (location.kind === "ssh")
    throw new BlindsyncError(
      "usage",
      `scrub reads the storage itself; ${path} is reached through blindsync serve`,
      {
        hint: "Run blindsync scrub on the server, on the repository's directory",
      },
    );
  return scrubPacks(context, location);
}

async function scrubSqlite(
  context: CommandContext,
  path: string,
): Promise<number> {
  const store = await SqliteStore.open(path, { readonly: true });
  let damaged = 0;
  let blobs = 0;
  try {
    for await (const id of store.scrub()) {
      damaged += 1;
      if (context.output.json)
        context.output.jsonLine({ type: "damaged", id: toHex(id) });
      else context.output.line(`damaged blob ${toHex(id)}`);
    }
    for await (const info of store.list()) if (info.length >= 0) blobs += 1;
  } finally {
    await store.close();
  }
  if (context.output.json)
    context.output.jsonLine({ type: "summary", blobs, damaged });
  else
    context.output.line(
      `Scrubbed ${plural(blobs, "blob")}: ${damaged === 0 ? "all intact" : `${damaged} damaged`}`,
    );
  if (damaged > 0) {
    throw new BlindsyncError(
      "integrity",
      `${damaged} stored blobs no longer match their checksums`,
      {
        hint: "Restore them from another copy of the repository; clients see them as integrity errors",
      },
    );
  }
  return blobs;
}

/**
 * A pack repository, keyless: the store serves scrub without its index key, and its index
 * stays in memory (nothing is written to a cache for a command that needs none).
 */
async function scrubPacks(
  context: CommandContext,
  location: ReturnType<typeof resolveLocation>,
): Promise<number> {
  const sshCommand = context.globals.ssh ?? context.env.BLINDSYNC_SSH;
  const { s3Endpoint, s3PathStyle } = context.globals;
  const store = await openStore(location, {
    mode: "open",
    ...(sshCommand === undefined ? {} : { sshCommand }),
    ...(s3Endpoint === undefined ? {} : { s3Endpoint }),
    ...(s3PathStyle === undefined ? {} : { s3PathStyle }),
    onStderr: (line: string) => {
      context.output.warn(`remote: ${line}`);
    },
  });
  let damaged = 0;
  try {
    if (!(store instanceof PackStore))
      throw new BlindsyncError(
        "no-repository",
        `No pack repository at ${location.text}`,
      );
    for await (const name of store.scrub()) {
      damaged += 1;
      if (context.output.json)
        context.output.jsonLine({ type: "damaged", name });
      else context.output.line(`damaged object ${name}`);
    }
  } finally {
    await store.close();
  }
  if (context.output.json)
    context.output.jsonLine({ type: "summary", damaged });
  else
    context.output.line(
      `Scrubbed the packs and index segments: ${damaged === 0 ? "all intact" : `${damaged} damaged`}`,
    );
  if (damaged > 0) {
    throw new BlindsyncError(
      "integrity",
      `${damaged} objects no longer hash to their names (SHA-256)`,
      {
        hint: "Restore them from another copy of the repository; clients see their blobs as integrity errors",
      },
    );
  }
  return damaged;
}

export function scrubCommand(): Command {
  return new Command("scrub")
    .description(
      "verify stored blobs or packs against their checksums, without any key",
    )
    .argument(
      "<repo>",
      "a local repository directory, a pack directory, sftp: or s3:",
    )
    .addHelpText(
      "after",
      `
Needs no passphrase: it re-hashes the ciphertext (each blob of a SQLite repository; each pack
and index segment of a pack repository, whose name is its SHA-256). Exit 13 when any is damaged.

Examples:
  blindsync scrub /srv/backups/laptop        (on the server)
  blindsync scrub sftp:me@storagebox:backups`,
    )
    .action(async (path: string, _flags: unknown, command: Command) => {
      await runScrub(contextOf(command), path);
    });
}
