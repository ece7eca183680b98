#!/usr/bin/env bash
# tests/package/dpkg_test.sh BUILD_DIR CPACK: the Debian package through its
# whole life with the real dpkg: build it with cpack, install it, upgrade it
# to a higher version whose default config changed while the installed one
# was edited (--force-confold keeps the edit), and purge it.
#
# It installs into the real system, so it only runs where it cannot harm
# anything: as root, with dpkg, and with no wsgate package, binary, user,
# group, config or unit already there. Otherwise it exits 77, which ctest
# reports as skipped (SKIP_RETURN_CODE). Whatever it installed is purged on
# exit, however it exits.
set -euo pipefail

build_dir="$(cd "$1" && pwd)"
cpack="$2"
readonly kSkip=77
# Left by a run that installed the package; lets the next run recognise
# leftovers of an interrupted run as its own.
readonly marker=/var/tmp/wsgate-dpkg-test.installed
readonly lock=/var/tmp/wsgate-dpkg-test.lock

skip() { echo "dpkg_test: skipped: $*" >&2; exit "$kSkip"; }
fail() { echo "dpkg_test: FAILED: $*" >&2; exit 1; }
say() { echo "dpkg_test: $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root to install a package with dpkg (runs as uid $(id -u))"
for tool in dpkg dpkg-deb dpkg-query getent setpriv flock timeout; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done

# One run at a time on this machine, whoever starts it.
exec 9>"$lock"
flock -n 9 || skip "another dpkg_test holds $lock"

package_state() { dpkg-query -W -f='${db:Status-Status}' wsgate 2>/dev/null || true; }

# What exists that this test would install or create, if anything.
foreign_traces() {
  local state; state="$(package_state)"
  [ -z "$state" ] || [ "$state" = "not-installed" ] || echo "package wsgate ($state)"
  [ ! -e /usr/sbin/wsgate ] || echo "/usr/sbin/wsgate"
  [ ! -e /etc/wsgate ] || echo "/etc/wsgate"
  [ ! -e /lib/systemd/system/wsgate.service ] || echo "/lib/systemd/system/wsgate.service"
  getent passwd wsgate >/dev/null && echo "user wsgate"
  getent group wsgate >/dev/null && echo "group wsgate"
  return 0
}

# dpkg refuses to run while apt or another dpkg holds its lock (another
# session may be installing packages): wait for it, up to a minute.
dpkg_run() {
  local out _
  for _ in $(seq 1 30); do
    if out="$(timeout 60 dpkg "$@" </dev/null 2>&1)"; then
      printf '%s\n' "$out"
      return 0
    fi
    if ! grep -qiE 'is locked|frontend lock|lock-frontend' <<<"$out"; then
      printf '%s\n' "$out" >&2
      return 1
    fi
    sleep 2
  done
  printf '%s\n' "$out" >&2
  return 1
}

purge_ours() {
  local state; state="$(package_state)"
  if [ -n "$state" ] && [ "$state" != "not-installed" ]; then
    dpkg_run --purge wsgate >/dev/null || echo "dpkg_test: dpkg --purge wsgate failed" >&2
  fi
  # A purge that failed half-way must not leave the user behind either.
  if getent passwd wsgate >/dev/null; then userdel wsgate || echo "dpkg_test: userdel wsgate failed" >&2; fi
  if getent group wsgate >/dev/null; then groupdel wsgate || echo "dpkg_test: groupdel wsgate failed" >&2; fi
  rm -f "$marker"
}

traces="$(foreign_traces)"
if [ -n "$traces" ]; then
  [ -e "$marker" ] || skip "would touch what this test did not install: $(tr '\n' ' ' <<<"$traces")"
  say "cleaning up after an interrupted earlier run: $(tr '\n' ' ' <<<"$traces")"
  purge_ours
  traces="$(foreign_traces)"
  [ -z "$traces" ] || fail "leftovers of an earlier run remain: $traces"
fi

work="$(mktemp -d /tmp/wsgate-dpkg-test.XXXXXX)"
installed=0
cleanup() {
  local code=$?
  if [ "$installed" -eq 1 ]; then
    purge_ours
  fi
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---------------------------------------------------------------- packages

build_package() {  # OUT_DIR [cpack -D args...]
  local out="$1"; shift
  if ! timeout 120 "$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" -B "$out" "$@" \
      >"$out.log" 2>&1; then
    cat "$out.log" >&2
    fail "cpack failed in $build_dir"
  fi
  local debs=("$out"/wsgate_*.deb)
  if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
    fail "cpack wrote no single wsgate_*.deb into $out"
  fi
  echo "${debs[0]}"
}

mkdir -p "$work/v1" "$work/v2"
deb1="$(build_package "$work/v1")"
version1="$(dpkg-deb -f "$deb1" Version)"
arch="$(dpkg --print-architecture)"
[ "$(basename "$deb1")" = "wsgate_${version1}_${arch}.deb" ] || fail "package file is named $(basename "$deb1")"
say "built $(basename "$deb1")"

depends="$(dpkg-deb -f "$deb1" Depends)"
for dep in libc6 libuv1 libyaml-cpp passwd; do
  grep -q "$dep" <<<"$depends" || fail "Depends lacks $dep: $depends"
done
contents="$(dpkg-deb -c "$deb1")"
for path in ./usr/sbin/wsgate ./etc/wsgate/wsgate.yaml ./lib/systemd/system/wsgate.service; do
  grep -q " $path\$" <<<"$contents" || fail "package lacks $path:"$'\n'"$contents"
done

# The upgrade: a higher version from a second cpack run, whose shipped
# config differs from the first (as a real upgrade's often does), so that
# dpkg meets a conffile changed on both sides.
version2="${version1}+test1"
deb2_cpack="$(build_package "$work/v2" -D "CPACK_PACKAGE_VERSION=$version2")"
[ "$(dpkg-deb -f "$deb2_cpack" Version)" = "$version2" ] || fail "the version override did not reach the package"
dpkg-deb -R "$deb2_cpack" "$work/v2/root"
echo "# changed in $version2" >>"$work/v2/root/etc/wsgate/wsgate.yaml"
(cd "$work/v2/root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
  >"$work/v2/md5sums"
mv "$work/v2/md5sums" "$work/v2/root/DEBIAN/md5sums"
deb2="$work/wsgate_${version2}_${arch}.deb"
# gzip -1: xz (the default) takes half a minute on a sanitizer build's binary.
dpkg-deb --root-owner-group -Zgzip -z1 -b "$work/v2/root" "$deb2" >/dev/null

# ---------------------------------------------------------------- install

installed=1
echo "$$ $(date -Is)" >"$marker"
dpkg_run -i "$deb1" >"$work/install.log" || fail "dpkg -i $(basename "$deb1") failed"
[ "$(package_state)" = "installed" ] || fail "package state after install: $(package_state)"

[ -x /usr/sbin/wsgate ] || fail "/usr/sbin/wsgate is not installed"
/usr/sbin/wsgate --version | grep -q '^wsgate ' || fail "wsgate --version printed nothing useful"
/usr/sbin/wsgate -t -c /etc/wsgate/wsgate.yaml >/dev/null || fail "the installed config is not valid"

conffiles="$(dpkg-query -W -f='${Conffiles}' wsgate)"
grep -q '^ /etc/wsgate/wsgate.yaml [0-9a-f]\{32\}' <<<"$conffiles" \
  || fail "/etc/wsgate/wsgate.yaml is not a registered conffile: '$conffiles'"

getent passwd wsgate >/dev/null || fail "user wsgate was not created"
getent group wsgate >/dev/null || fail "group wsgate was not created"
[ "$(id -gn wsgate)" = "wsgate" ] || fail "user wsgate's primary group is $(id -gn wsgate)"
shell="$(getent passwd wsgate | cut -d: -f7)"
[ "$shell" = "/usr/sbin/nologin" ] || fail "user wsgate has a login shell: $shell"
[ "$(stat -c %U /var/log/wsgate)" = "wsgate" ] || fail "/var/log/wsgate is not owned by wsgate"
# What ExecStartPre does under systemd: the check as the unit's user.
setpriv --reuid=wsgate --regid=wsgate --clear-groups /usr/sbin/wsgate -t -c /etc/wsgate/wsgate.yaml >/dev/null \
  || fail "user wsgate cannot validate /etc/wsgate/wsgate.yaml"

unit=/lib/systemd/system/wsgate.service
[ -f "$unit" ] || fail "$unit is not installed"
grep -q '^ExecStart=/usr/sbin/wsgate -c /etc/wsgate/wsgate.yaml$' "$unit" || fail "$unit does not run the package's paths"
if command -v systemd-analyze >/dev/null; then
  said="$(timeout 60 systemd-analyze verify "$unit" 2>&1)" || fail "systemd-analyze verify $unit:"$'\n'"$said"
  # Warnings come with exit 0 too: none about this unit is allowed.
  ! grep -q 'wsgate.service' <<<"$said" || fail "systemd-analyze verify warns:"$'\n'"$said"
else
  say "systemd-analyze is not installed: unit not verified"
fi
say "installed $version1: binary, conffile, user, unit ok"

# ---------------------------------------------------------------- upgrade

edit="# edited by the operator before the upgrade"
echo "$edit" >>/etc/wsgate/wsgate.yaml
dpkg_run --force-confold -i "$deb2" >"$work/upgrade.log" || fail "dpkg --force-confold -i $(basename "$deb2") failed"
[ "$(dpkg-query -W -f='${Version}' wsgate)" = "$version2" ] || fail "version after the upgrade: $(dpkg-query -W -f='${Version}' wsgate)"
[ "$(package_state)" = "installed" ] || fail "package state after the upgrade: $(package_state)"
grep -qxF "$edit" /etc/wsgate/wsgate.yaml || fail "the upgrade lost the local edit of /etc/wsgate/wsgate.yaml"
! grep -q "changed in $version2" /etc/wsgate/wsgate.yaml || fail "the upgrade replaced the edited conffile"
grep -q "changed in $version2" /etc/wsgate/wsgate.yaml.dpkg-dist \
  || fail "the new default config is not kept as /etc/wsgate/wsgate.yaml.dpkg-dist"
/usr/sbin/wsgate -t -c /etc/wsgate/wsgate.yaml >/dev/null || fail "the kept config is not valid after the upgrade"
getent passwd wsgate >/dev/null || fail "the upgrade lost user wsgate"
say "upgraded to $version2: local edit kept, new default in wsgate.yaml.dpkg-dist"

# ---------------------------------------------------------------- purge

dpkg_run --purge wsgate >"$work/purge.log" || fail "dpkg --purge wsgate failed"
state="$(package_state)"
[ -z "$state" ] || [ "$state" = "not-installed" ] || fail "package state after purge: $state"
[ ! -e /usr/sbin/wsgate ] || fail "/usr/sbin/wsgate is left after purge"
[ ! -e "$unit" ] || fail "$unit is left after purge"
[ ! -e /etc/wsgate ] || fail "/etc/wsgate is left after purge: $(ls -A /etc/wsgate)"
[ ! -e /var/log/wsgate ] || fail "/var/log/wsgate is left after purge"
! getent passwd wsgate >/dev/null || fail "user wsgate is left after purge"
! getent group wsgate >/dev/null || fail "group wsgate is left after purge"
installed=0
rm -f "$marker"
say "purged: binary, unit, /etc/wsgate, /var/log/wsgate, user and group gone"
