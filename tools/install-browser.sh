#!/usr/bin/env bash
# Installs the headless browser the timeline test (tests/timeline.rs) screenshots
# `pgsurge report --html` with: Debian's chromium, pinned to one exact version so that a
# screenshot taken on one machine is drawn by the same engine on the next. Idempotent: with
# the pinned version already installed it only asks dpkg, so CI can call it on every run.
#
# Usage: tools/install-browser.sh   (no prompts; safe with CI=true)
#
# Needs root (apt). As any other user it changes nothing: it says what to run as root, and
# succeeds only if some chromium is already there (the test then runs with that one).
set -euo pipefail

# Bump this with Debian's security updates: bookworm-security keeps only the newest, and apt
# can only install what the archive still offers. Once this one is gone the script installs
# the newest instead, with a warning, rather than leave CI without a browser.
pinned=156.0.8078.114-1~deb12u1

installed() { dpkg-query -W -f='${Status} ${Version}' chromium 2>/dev/null || true; }
# Whether apt can install chromium VERSION (`apt-cache show` succeeds, silent, for any version).
offered() {
  apt-cache madison chromium | awk -F'|' -v want="$1" '{ gsub(/ /, "", $2) } $2 == want && $3 ~ /Packages/ { found = 1 } END { exit !found }'
}

if [[ $(installed) == "install ok installed $pinned" ]] && command -v chromium >/dev/null; then
  echo "chromium: already present ($pinned)"
  exit 0
fi

if [[ $(id -u) != 0 ]]; then
  have=$(installed)
  if [[ $have == "install ok installed "* ]] && command -v chromium >/dev/null; then
    echo "install-browser: chromium ${have##* } is installed, not the pinned $pinned; using it (as root: apt-get install chromium=$pinned)" >&2
    exit 0
  fi
  echo "install-browser: chromium is missing and installing it needs root: apt-get install -y --no-install-recommends chromium=$pinned" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A machine whose package lists predate the pinned version knows no such candidate yet.
if ! offered "$pinned"; then
  apt-get update -qq
fi
version=$pinned
if ! offered "$pinned"; then
  # Debian's security archive keeps only the newest update: rather than no browser (and a
  # failing test run), the newest, said loudly so that someone bumps the pin.
  version=$(apt-cache policy chromium | awk '/Candidate:/ { print $2 }')
  [[ -n $version && $version != "(none)" ]] || { echo "install-browser: apt offers no chromium package at all" >&2; exit 1; }
  echo "install-browser: warning: apt no longer offers chromium $pinned; using $version instead (update \`pinned\` in $0)" >&2
  if [[ $(installed) == "install ok installed $version" ]] && command -v chromium >/dev/null; then
    echo "chromium: already present ($version)"
    exit 0
  fi
fi
echo "chromium: installing $version from Debian (about 115 MB to download, 360 MB installed)"
# chromium-common comes from the same source package and must match it exactly, or apt
# refuses the pair.
apt-get install -y -qq --no-install-recommends "chromium=$version" "chromium-common=$version" >/dev/null
[[ $(installed) == "install ok installed $version" ]] || { echo "install-browser: apt-get finished but dpkg reports chromium as: $(installed)" >&2; exit 1; }
command -v chromium >/dev/null || { echo "install-browser: chromium $version installed but not on PATH" >&2; exit 1; }
echo "chromium: installed ($(chromium --version 2>/dev/null || echo "$version"))"
