#!/usr/bin/env bash
# The PyTorch twin tests run Debian's python3-torch through /usr/bin/python3. The test command (dotnet test, through
# an MSBuild target of tests/ModelDsl.Tests) runs this first: when PyTorch is missing on a Debian-like machine, it
# installs it (as root, or through sudo without a password). Elsewhere it does nothing; the tests then say what is missing.
set -u
if /usr/bin/python3 -c "import torch" >/dev/null 2>&1; then exit 0; fi
command -v apt-get >/dev/null 2>&1 || exit 0
if [ "$(id -u)" = 0 ]; then run=""; elif sudo -n true >/dev/null 2>&1; then run="sudo -n"; else
  echo "ensure-python-torch: python3-torch is missing and this user cannot install it (apt-get install python3-torch)." >&2; exit 0; fi
echo "ensure-python-torch: installing python3-torch (PyTorch 1.13 from Debian) for the PyTorch twin tests..."
export DEBIAN_FRONTEND=noninteractive
$run apt-get install -y -q --no-install-recommends python3-torch >/dev/null 2>&1 \
  || { $run apt-get update -q >/dev/null 2>&1 && $run apt-get install -y -q --no-install-recommends python3-torch >/dev/null 2>&1; } \
  || echo "ensure-python-torch: apt-get could not install python3-torch." >&2
exit 0
