/**
 * Turns bubblewrap's refusal to make a user namespace into one line that
 * names the host setting behind it and the fix. Pure: the host's settings
 * come in as the text of their `/proc/sys` files.
 *
 * Kernels and distributions refuse unprivileged user namespaces in three
 * ways: Ubuntu 23.10+ through AppArmor (`kernel.apparmor_restrict_unprivileged_userns=1`:
 * bwrap then says `setting up uid map: Permission denied`), Debian's older
 * kernels through `kernel.unprivileged_userns_clone=0`, and any kernel
 * through `user.max_user_namespaces=0`.
 *
 * @module
 */

/** The host settings that decide whether an unprivileged user may make user namespaces. */
export interface UsernsSettings {
  /** `/proc/sys/kernel/apparmor_restrict_unprivileged_userns` (null: absent). */
  readonly apparmorRestrict: string | null;
  /** `/proc/sys/kernel/unprivileged_userns_clone` (null: absent). */
  readonly unprivilegedClone: string | null;
  /** `/proc/sys/user/max_user_namespaces` (null: absent). */
  readonly maxUserNamespaces: string | null;
}

/** Where the settings live, for the edge that reads them. */
export const usernsSettingFiles: Readonly<Record<keyof UsernsSettings, string>> = {
  apparmorRestrict: "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
  unprivilegedClone: "/proc/sys/kernel/unprivileged_userns_clone",
  maxUserNamespaces: "/proc/sys/user/max_user_namespaces",
};

/** What bubblewrap prints when the kernel will not let it make its namespaces. */
const refusals = [
  /setting up uid map: Permission denied/,
  /No permissions to creat\w* new namespace/,
  /Creating new namespace failed/,
  /loopback: Failed RTM_NEWADDR/,
  /unshare failed/i,
];

/**
 * One line naming why bubblewrap could not make its namespaces and how to
 * fix it, or null when `stderr` is not such a refusal.
 */
export function explainUsernsRefusal(stderr: string, settings: UsernsSettings): string | null {
  if (!refusals.some((pattern) => pattern.test(stderr))) return null;
  const said =
    stderr.split("\n").map((line) => line.trim()).find((line) =>
      refusals.some((pattern) => pattern.test(line))
    ) ?? "";
  const orPyodide = "or run jobs in Pyodide instead (--sandbox pyodide)";
  if (settings.apparmorRestrict?.trim() === "1") {
    return `Cannot start bwrap sandbox: AppArmor refuses unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1; bwrap said "${said}"); fix: give bwrap an AppArmor profile that allows them (see docs/OPERATIONS.md), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, ${orPyodide}`;
  }
  if (settings.unprivilegedClone?.trim() === "0") {
    return `Cannot start bwrap sandbox: the kernel refuses unprivileged user namespaces (kernel.unprivileged_userns_clone=0; bwrap said "${said}"); fix: sysctl -w kernel.unprivileged_userns_clone=1, ${orPyodide}`;
  }
  if (settings.maxUserNamespaces?.trim() === "0") {
    return `Cannot start bwrap sandbox: the kernel allows no user namespaces (user.max_user_namespaces=0; bwrap said "${said}"); fix: sysctl -w user.max_user_namespaces=10000, ${orPyodide}`;
  }
  return `Cannot start bwrap sandbox: the kernel refused to make the jail's namespaces (bwrap said "${said}"); check kernel.apparmor_restrict_unprivileged_userns, kernel.unprivileged_userns_clone and user.max_user_namespaces (docs/OPERATIONS.md), ${orPyodide}`;
}
