/**
 * The errors a RemoteStore call can end with besides the server's own: how a lost connection
 * and a broken protocol are worded, and the server's error response rebuilt as the
 * BlindsyncError of the same kind.
 */
import { BlindsyncError, describeError } from "../../errors.js";
import type { Response } from "../../protocol/index.js";

/** The server's error response, rethrown on this side with its kind, message and hint. */
export function remoteError(
  response: Extract<Response, { type: "error" }>,
): BlindsyncError {
  return new BlindsyncError(
    response.kind,
    response.message,
    response.hint === undefined ? {} : { hint: response.hint },
  );
}

export function asBlindsyncError(error: unknown): BlindsyncError {
  if (error instanceof BlindsyncError) return error;
  return new BlindsyncError("protocol", describeError(error), { cause: error });
}

/** The server sent bytes this client cannot read as the protocol (`error` says how). */
export function brokenProtocolError(error: unknown): BlindsyncError {
  const failure = asBlindsyncError(error);
  return new BlindsyncError(
    "protocol",
    `The repository server broke the protocol: ${failure.message}`,
    {
      cause: error,
      hint:
        failure.hint ?? "Check that both sides run the same blindsync version",
    },
  );
}

/**
 * The connection ended while the client waited for `waitingFor`: the server's hello, or the
 * calls pending (named by what they are; the first three, then how many more).
 */
export function lostConnectionError(
  why: string,
  waitingFor: "hello" | readonly string[],
  cause: unknown,
): BlindsyncError {
  const waiting =
    waitingFor === "hello"
      ? "the server's hello"
      : waitingFor.length === 0
        ? "nothing"
        : waitingFor.slice(0, 3).join(", ") +
          (waitingFor.length > 3 ? ` and ${waitingFor.length - 3} more` : "");
  return new BlindsyncError(
    "transient",
    `Lost the connection to the repository server while waiting for ${waiting}: ${why}`,
    cause === undefined ? {} : { cause },
  );
}
