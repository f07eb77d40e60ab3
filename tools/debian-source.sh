# Sourced, not run: `debian_source PACKAGE[=VERSION] DIR` downloads a Debian source package
# (its .dsc, orig tarball and Debian changes) into DIR with `apt-get source --download-only`,
# from sid on the mirror this machine's apt already uses: a deb-src entry for it is added
# once (/etc/apt/sources.list.d/pgsurge-src.sources). Needs root for that and `apt-get update`.
debian_source() {
  local package=$1 dir=$2 uri
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
    uri=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
    [[ -n $uri ]] || uri=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\/debian\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1)
    [[ -n $uri ]] || { echo "debian-source: no Debian mirror in this machine's apt sources" >&2; return 1; }
    printf 'Types: deb-src\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      >/etc/apt/sources.list.d/pgsurge-src.sources
  fi
  apt-get update -qq >/dev/null
  mkdir -p "$dir"
  (cd "$dir" && apt-get source --download-only "$package" >/dev/null 2>&1)
}
