"""torchrun, usable on every PyTorch the twins support: python -m modeldsl_torch.torchrun --nproc_per_node=2 train.py

PyTorch 1.13's launcher (Debian 12's python3-torch) fails on Python 3.11 before it starts a worker: its
Std.from_str finds "0" (the default of --redirects and --tee) by iterating the IntFlag, and Python 3.11 no longer
yields the zero and composite members, so it returns None. This module mends that one function where it is broken,
then runs torch.distributed.run exactly as torchrun does; on PyTorch 2.x it changes nothing.
"""

import re
import sys

from torch.distributed.elastic.multiprocessing import api


def _from_str(vm: str):
    if re.match(api._VALUE_REGEX, vm):
        return api.Std(int(vm))
    if re.match(api._MAPPING_REGEX, vm):
        return {int(i): api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
    raise ValueError(f"{vm} does not match: <{api._VALUE_REGEX}> or <{api._MAPPING_REGEX}>")


if api.Std.from_str("0") is None:
    api.Std.from_str = staticmethod(_from_str)

if __name__ == "__main__":
    from torch.distributed.run import main

    sys.exit(main())
