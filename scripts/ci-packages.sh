#!/usr/bin/env bash
# ci-packages.sh: builds the .deb and .rpm packages for this machine's
# architecture (make packages) and checks them the way an operator meets
# them:
#   1. installs both .deb packages with `dpkg -i` on a clean Debian root
#      (debootstrap --variant=minbase into a temporary directory, then
#      chroot; there is no container engine on the CI machine), and checks
#      the binaries run (--version), the system users, directory modes and
#      the removal;
#      without debootstrap, root or the Debian mirror it installs them on
#      this machine instead and purges them afterwards (it says so);
#   2. runs `systemd-analyze verify` on the installed units (skipped, with a
#      line saying so, where systemd-analyze is missing).
# Settings: TALLY_DEBIAN_SUITE (bookworm), TALLY_DEBIAN_MIRROR
# (http://deb.debian.org/debian), TALLY_CI_ROOT_CACHE (a directory to keep
# the clean root's tarball in between runs; default none).
set -euo pipefail
cd "$(dirname "$0")/.."

arch=$(go env GOARCH)
rm -rf dist/*.deb dist/*.rpm
make packages PKG_ARCHES="$arch"
debs=(dist/tallyd_*_"$arch".deb dist/tally-agent_*_"$arch".deb)
rpms=(dist/tallyd-*.rpm dist/tally-agent-*.rpm)
for f in "${debs[@]}" "${rpms[@]}"; do [[ -s $f ]] || { echo "ci-packages: $f missing" >&2; exit 1; }; done
echo "ci-packages: built ${debs[*]} ${rpms[*]}"

fail() { echo "ci-packages: FAIL: $*" >&2; exit 1; }
suite=${TALLY_DEBIAN_SUITE:-bookworm}
mirror=${TALLY_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# run CMD... in the install target: the clean root, or this machine.
root=
run() { if [[ -n $root ]]; then chroot "$root" "$@"; else "$@"; fi; }

cleanup() { [[ -n $root && -d $root ]] && rm -rf --one-file-system "$root"; return 0; }
trap cleanup EXIT

if [[ $(id -u) -eq 0 ]] && command -v debootstrap >/dev/null; then
  root=$(mktemp -d /tmp/tally-clean-root.XXXXXX)
  cache=${TALLY_CI_ROOT_CACHE:-}
  tarball=${cache:+$cache/debian-$suite-$arch-minbase.tgz}
  if [[ -n $tarball && -s $tarball ]]; then
    echo "ci-packages: clean Debian $suite root from $tarball"
    tar -xzf "$tarball" -C "$root"
  elif debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
    echo "ci-packages: clean Debian $suite root made with debootstrap (minbase) in $root"
    if [[ -n $tarball ]]; then mkdir -p "$cache" && tar -czf "$tarball" -C "$root" .; fi
  else
    echo "ci-packages: debootstrap failed (log: $root.log); installing on this machine instead" >&2
    tail -5 "$root.log" >&2 || true
    rm -rf --one-file-system "$root"; root=
  fi
  rm -f "$root.log"
fi
if [[ -z $root ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "ci-packages: not root: package install test SKIPPED" >&2; exit 0; }
  for p in tallyd tally-agent; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      fail "$p is already installed on this machine; will not replace it"
    fi
  done
  echo "ci-packages: no clean root: installing on this machine, purged afterwards"
  trap 'dpkg --purge tallyd tally-agent >/dev/null 2>&1 || true; cleanup' EXIT
fi

target=/
if [[ -n $root ]]; then
  mkdir -p "$root/tmp/pkgs"; cp "${debs[@]}" "$root/tmp/pkgs/"
  target=$root
  run sh -c 'dpkg -i /tmp/pkgs/*.deb'
else
  dpkg -i "${debs[@]}"
fi
run tallyd --version | grep -q '^tallyd ' || fail "tallyd --version"
run tally-agent --version | grep -q '^tally-agent ' || fail "tally-agent --version"
run tallyctl --help >/dev/null || fail "tallyctl --help"
run tallyd --version; run tally-agent --version
run getent passwd tally >/dev/null || fail "no system user tally"
run getent passwd tally-agent >/dev/null || fail "no system user tally-agent"
run id -nG tally-agent | grep -qw tally || fail "tally-agent is not in group tally (the socket's group)"
[[ $(run stat -c '%a %U' /var/lib/tallyd) == "700 tally" ]] || fail "/var/lib/tallyd is $(run stat -c '%a %U' /var/lib/tallyd)"
[[ $(run stat -c '%a %G' /etc/tally/tallyd.yaml) == "640 tally" ]] || fail "/etc/tally/tallyd.yaml is $(run stat -c '%a %G' /etc/tally/tallyd.yaml)"
run test -f /etc/tally-agent/agent.yaml.example || fail "no /etc/tally-agent/agent.yaml.example"
echo "ci-packages: dpkg -i installed tallyd and tally-agent${root:+ on a clean Debian $suite root}; --version, users and modes OK"

# systemd-analyze verify the installed units. It needs the binaries the
# units start: point the copies at the installed ones under the root.
if command -v systemd-analyze >/dev/null; then
  units=$(mktemp -d)
  for u in tallyd tally-agent; do
    sed "s#/usr/bin/#${target%/}/usr/bin/#g" "$target/lib/systemd/system/$u.service" >"$units/$u.service"
  done
  out=$(systemd-analyze verify "$units/tallyd.service" "$units/tally-agent.service" 2>&1 || true)
  rm -rf "$units"
  # Outside a booted systemd the tool also complains about the host's own
  # units; only lines about ours count.
  if grep -E '(tallyd|tally-agent)\.service' <<<"$out"; then fail "systemd-analyze verify"; fi
  echo "ci-packages: systemd-analyze verify: tallyd.service and tally-agent.service OK"
else
  echo "ci-packages: systemd-analyze not installed: unit verification SKIPPED"
fi

run touch /var/lib/tallyd/state-marker
run dpkg --purge tally-agent tallyd >/dev/null
run test ! -e /usr/bin/tallyd || fail "/usr/bin/tallyd left after purge"
run test -e /var/lib/tallyd/state-marker || fail "purge deleted /var/lib/tallyd (cluster state must be kept)"
[[ -n $root ]] || rm -rf /var/lib/tallyd /var/lib/tally-agent
echo "ci-packages: removal OK (state kept)"
