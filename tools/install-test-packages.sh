#!/usr/bin/env bash
# Installs the Debian packages the test suites run (Debian/Ubuntu; root, or sudo when there):
# - age: format v2 interop tests run `age -d`, `age -r` and `age-keygen` (test/crypto/age);
# - ceph-mon ceph-osd radosgw (+ curl): the throwaway Ceph RADOS Gateway the S3 conformance,
#   end-to-end and fault suites also run against (tools/ceph-s3.sh; they fail, never skip, without it);
# - chromium: the real-browser suite (npm run test:browser), driven by playwright-core.
set -euo pipefail
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  age ceph-mon ceph-osd radosgw curl
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
