# Sourced by images/build.sh.  Reads the host's apt sources and prints the Debian
# repositories the base image should use, one "URI SUITE COMPONENTS..." line each.
#
# Formats read: one-line /etc/apt/sources.list and sources.list.d/*.list
# ("deb [opts] URI SUITE COMPONENT..."), and deb822 sources.list.d/*.sources
# (Types/URIs/Suites/Components/Enabled).  deb-src entries and disabled stanzas are
# skipped; files with other suffixes (e.g. *.disabled) are not read, as apt does.

# apt_host_entries: print "URI SUITE COMPONENTS..." for every enabled deb entry on the host.
apt_host_entries() {
    local f etc=${APT_ETC:-/etc/apt}  # APT_ETC: for tests
    for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk '
            { sub(/#.*/, "") }
            $1 != "deb" { next }
            {
                line = $0
                sub(/^[ \t]*deb[ \t]+/, "", line)
                if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)   # [arch=... signed-by=...]
                n = split(line, w, /[ \t]+/)
                if (n < 2) next
                out = w[1] " " w[2]
                for (i = 3; i <= n; i++) if (w[i] != "") out = out " " w[i]
                print out
            }' "$f"
    done
    for f in "$etc"/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk '
            function flush(   nu, ns, u, s, i, j) {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^[ \t]*(no|false|0)[ \t]*$/) {
                    nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
                        if (u[i] != "" && s[j] != "") print u[i] " " s[j] " " comps
                }
                types = uris = suites = comps = enabled = ""; key = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[A-Za-z-]+:/ {
                key = tolower(substr($0, 1, index($0, ":") - 1))
                val = substr($0, index($0, ":") + 1)
                gsub(/^[ \t]+|[ \t]+$/, "", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "components") comps = val
                else if (key == "enabled") enabled = val
                next
            }
            /^[ \t]/ {   # continuation line
                val = $0; gsub(/^[ \t]+|[ \t]+$/, "", val)
                if (key == "uris") uris = uris " " val
                else if (key == "suites") suites = suites " " val
                else if (key == "components") comps = comps " " val
                next
            }
            END { flush() }' "$f"
    done
}

# debian_mirrors CODENAME: sets MIRROR, UPDATES_MIRROR, SECURITY_MIRROR and COMPONENTS.
#   MIRROR          first host entry whose suite is CODENAME; else a host entry whose
#                   URI ends in /debian; else http://deb.debian.org/debian.
#   SECURITY_MIRROR first host entry whose suite is CODENAME-security (or CODENAME/updates);
#                   else MIRROR with /debian -> /debian-security; else deb.debian.org.
#   UPDATES_MIRROR  host entry with suite CODENAME-updates; else MIRROR.
# BACKENDAI_DEBIAN_MIRROR / BACKENDAI_DEBIAN_SECURITY_MIRROR override the first two.
debian_mirrors() {
    local codename=$1 entries
    entries=$(apt_host_entries | awk '!seen[$0]++')
    MIRROR=$(awk -v c="$codename" '$2 == c { print $1; exit }' <<<"$entries")
    [ -n "$MIRROR" ] || MIRROR=$(awk '$1 ~ /\/debian\/?$/ && $2 !~ /-security$/ { print $1; exit }' <<<"$entries")
    [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
    MIRROR=${BACKENDAI_DEBIAN_MIRROR:-$MIRROR}
    MIRROR=${MIRROR%/}

    SECURITY_MIRROR=$(awk -v c="$codename" '$2 == c "-security" || $2 == c "/updates" { print $1; exit }' <<<"$entries")
    if [ -z "$SECURITY_MIRROR" ]; then
        case "$MIRROR" in
            */debian) SECURITY_MIRROR=${MIRROR}-security ;;
            *)        SECURITY_MIRROR=http://deb.debian.org/debian-security ;;
        esac
    fi
    SECURITY_MIRROR=${BACKENDAI_DEBIAN_SECURITY_MIRROR:-$SECURITY_MIRROR}
    SECURITY_MIRROR=${SECURITY_MIRROR%/}

    UPDATES_MIRROR=$(awk -v c="$codename" '$2 == c "-updates" { print $1; exit }' <<<"$entries")
    UPDATES_MIRROR=${UPDATES_MIRROR:-$MIRROR}
    UPDATES_MIRROR=${UPDATES_MIRROR%/}

    COMPONENTS=$(awk -v c="$codename" '$2 == c { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' <<<"$entries")
    COMPONENTS=${COMPONENTS:-main}
}
