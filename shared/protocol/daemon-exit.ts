/**
 * The daemon process's exit codes: part of the contract between the daemon and the client that
 * spawns it (a spawned daemon exiting with ALREADY_RUNNING means another one won the race).
 * Signals follow the shell convention 128 + signal number.
 */
export const DAEMON_EXIT_CODES = {
  /** Stopped on request or after the idle timeout. */
  OK: 0,
  /** Failed to start or crashed; the log says why. */
  FAILURE: 1,
  /** The configuration is invalid (BTFD_ERR_CONFIG_INVALID). */
  CONFIG_INVALID: 2,
  /** Another daemon owns this home (BTFD_ERR_DAEMON_ALREADY_RUNNING). */
  ALREADY_RUNNING: 3,
} as const;

/** 128 + the signal's number, the exit code for a shutdown caused by `signal`. */
export const SIGNAL_EXIT_BASE = 128;
