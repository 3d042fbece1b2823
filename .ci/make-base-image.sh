#!/usr/bin/env bash
# Make a local stand-in for the official python:<version>-slim image, for container
# builds on machines that cannot pull from Docker Hub (the template's own CI).
#
#   .ci/make-base-image.sh [PYTHON_VERSION]   (default 3.11)
#
# Debian bookworm's python3 is 3.11, so only that version can be made here.
# Idempotent: an existing image is kept. Needs root, debootstrap and podman.
set -euo pipefail

version="${1:-3.11}"
image="docker.io/library/python:${version}-slim"
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if podman image exists "$image"; then
    echo "$image already exists"
    exit 0
fi
if [[ "$version" != "3.11" ]]; then
    echo "error: Debian $suite ships Python 3.11; cannot make $image here." >&2
    exit 1
fi

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT

# minbase + python3 + pip, like the official slim image (which also has pip).
debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates \
    "$suite" "$rootfs" "$mirror"

# The official image's Python lives in /usr/local and lets pip install system-wide.
ln -s /usr/bin/python3 "$rootfs/usr/local/bin/python"
ln -s /usr/bin/python3 "$rootfs/usr/local/bin/python3"
ln -s /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
# Trust the host's extra CAs too (a TLS-intercepting proxy, say), so pip and uv reach
# the package index from inside builds exactly as they do on the host.
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates > /dev/null
fi
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    - "$image"
echo "made $image"
