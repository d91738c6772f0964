#!/bin/sh
# Offline stub: the real coverage tools are a download; see //third_party:README.md.
echo "bazel coverage is not supported in this offline workspace (stub remote_coverage_tools)" >&2
exit 1
