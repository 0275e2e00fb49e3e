/**
 * `blindsync scrub PATH`: the server's own check, with no key. Every stored blob is re-hashed
 * and compared with the SHA-256 recorded when it was stored, which finds bit rot and tampering
 * on the disk without anything secret. Authenticity needs the key: that is `check --read-data`.
 */
import { Command } from "commander";
import { BlindsyncError } from "../../errors.js";
import { SqliteStore } from "../../store/index.js";
import { toHex } from "../../util/bytes.js";
import type { CommandContext } from "../context.js";
import { contextOf } from "./shared.js";

export async function runScrub(
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
      `Scrubbed ${blobs} blobs: ${damaged === 0 ? "all intact" : `${damaged} damaged`}`,
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

export function scrubCommand(): Command {
  return new Command("scrub")
    .description(
      "verify stored blobs against their checksums, without any key (run on the server)",
    )
    .argument("<path>", "a local repository directory")
    .addHelpText(
      "after",
      `
Needs no passphrase: it re-hashes the ciphertext. Exit 13 when any blob is damaged.

Example (on the server):
  blindsync scrub /srv/backups/laptop`,
    )
    .action(async (path: string, _flags: unknown, command: Command) => {
      await runScrub(contextOf(command), path);
    });
}
