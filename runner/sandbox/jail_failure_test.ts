import assert from "node:assert/strict";
import { explainUsernsRefusal, type UsernsSettings } from "./jail_failure.ts";

const permissive: UsernsSettings = {
  apparmorRestrict: null,
  unprivilegedClone: null,
  maxUserNamespaces: "63000\n",
};

Deno.test("explainUsernsRefusal() names Ubuntu's AppArmor restriction and its fixes", () => {
  const line = explainUsernsRefusal("bwrap: setting up uid map: Permission denied\n", {
    ...permissive,
    apparmorRestrict: "1\n",
  });
  assert.ok(line !== null);
  assert.ok(!line.includes("\n"));
  assert.match(line, /AppArmor refuses unprivileged user namespaces/);
  assert.match(line, /kernel\.apparmor_restrict_unprivileged_userns=0/);
  assert.match(line, /--sandbox pyodide/);
});

Deno.test("explainUsernsRefusal() names the Debian and namespace-count sysctls", () => {
  const debian = explainUsernsRefusal(
    "bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces.",
    { ...permissive, unprivilegedClone: "0\n" },
  );
  assert.match(debian ?? "", /sysctl -w kernel\.unprivileged_userns_clone=1/);
  const none = explainUsernsRefusal(
    "bwrap: Creating new namespace failed: No space left on device",
    { ...permissive, maxUserNamespaces: "0\n" },
  );
  assert.match(none ?? "", /user\.max_user_namespaces=0/);
  const unknown = explainUsernsRefusal("bwrap: Creating new namespace failed: EPERM", permissive);
  assert.match(unknown ?? "", /refused to make the jail's namespaces.*bwrap said/);
});

Deno.test("explainUsernsRefusal() leaves other failures alone", () => {
  assert.equal(
    explainUsernsRefusal("RPython traceback:\ncannot allocate nursery", permissive),
    null,
  );
  assert.equal(
    explainUsernsRefusal("bwrap: execvp /usr/bin/pypy3: No such file", {
      ...permissive,
      apparmorRestrict: "1",
    }),
    null,
  );
});
