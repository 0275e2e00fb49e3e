/**
 * The environment every process blindsync starts gets: ours, minus our secrets. A child
 * inherits the whole environment by default, and ssh passes it on further than one would
 * think: to a ProxyCommand, to a LocalCommand, and to the server for any variable a `SendEnv`
 * pattern matches (`SendEnv BLINDSYNC_*` would hand the passphrase to whoever runs the
 * server). No child needs a passphrase: ssh and `--password-command` get everything else (the
 * agent socket, HOME, PATH, a GPG agent) untouched.
 *
 * Shared leaf: imports nothing from any layer.
 */

/** blindsync's own secret-bearing variables (README, "Passphrase"). */
const SECRET_VARIABLES = new Set([
  "BLINDSYNC_PASSWORD",
  "BLINDSYNC_NEW_PASSWORD",
]);

/** Any future BLINDSYNC_…PASSWORD/PASSPHRASE/SECRET variable is a secret too, by its name. */
const SECRET_NAME = /^BLINDSYNC_\w*(?:PASSWORD|PASSPHRASE|SECRET)/;

export function isSecretVariable(name: string): boolean {
  return SECRET_VARIABLES.has(name) || SECRET_NAME.test(name);
}

/** A copy of `env` (the process's own by default) without blindsync's secrets, for spawn(). */
export function childEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const copy: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env))
    if (value !== undefined && !isSecretVariable(name)) copy[name] = value;
  return copy;
}
