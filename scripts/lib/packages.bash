# Sourced by scripts/test and scripts/demo: installs the Debian packages StreamChecker needs
# when any is missing (apt-get update only then).
#
#   ensure_packages build   what building and running needs: the C toolchain and make
#                           (rdkafka-sys builds librdkafka with ./configure && make), pkg-config,
#                           zlib (rdkafka's libz feature), OpenSSL (rdkafka's TLS and SCRAM,
#                           native-tls for PostgreSQL TLS), Cyrus SASL (rdkafka's GSSAPI),
#                           libpcap (the pcap crate), python3 (scripts), kcat
#   ensure_packages test    the same, the PostgreSQL server, procps (kill(1), which a
#                           host-capture test runs; a minimal Debian lacks it), tshark (the
#                           reference decoder the link-layer fixtures are checked against) and
#                           openssl (the throw-away CA of the TLS tests), prometheus
#                           (promtool and the server the metrics tests scrape with),
#                           prometheus-alertmanager (the Alertmanager host-stream's
#                           --alertmanager test posts to), iproute2 (`ip netns`, where
#                           those servers run) and nftables (the rule that feeds the live
#                           NFLOG test, in its namespace); for the package
#                           step dpkg-dev (dpkg-shlibdeps), systemd (systemd-analyze verify
#                           and security on the units), lintian, man-db, groff-base and mandoc
#                           (the man pages), binutils (strip, readelf), chromium (headless: the
#                           browser check of host-stream's --plot chart)
#
# STREAMCHECKER_NO_INSTALL=1 only reports what is missing. Needs root to install.

BUILD_PACKAGES=(build-essential make pkg-config python3 zlib1g-dev libssl-dev libsasl2-dev
    libpcap-dev kcat ca-certificates)
TEST_PACKAGES=("${BUILD_PACKAGES[@]}" postgresql procps tshark openssl prometheus
    prometheus-alertmanager iproute2 nftables dpkg-dev systemd lintian man-db groff-base mandoc
    binutils chromium)

ensure_packages() {
    local wanted=()
    case ${1:-build} in
        build) wanted=("${BUILD_PACKAGES[@]}") ;;
        test) wanted=("${TEST_PACKAGES[@]}") ;;
        *) echo "ensure_packages: unknown set $1" >&2; return 2 ;;
    esac
    if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
        echo "not a Debian-like system (no dpkg-query/apt-get): make sure these are installed: ${wanted[*]}"
        return 0
    fi
    local missing=() p
    for p in "${wanted[@]}"; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "all packages present: ${wanted[*]}"
        return 0
    fi
    if [ "${STREAMCHECKER_NO_INSTALL:-0}" = 1 ]; then
        echo "missing packages (not installed: STREAMCHECKER_NO_INSTALL=1): ${missing[*]}"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]}. Install them as root:" >&2
        echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q -o DPkg::Lock::Timeout=300 update
    apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends "${missing[@]}"
}
