"""The fake CmdStan's compiler: `fake_compile.py SRC.stan TARGET CMDSTAN_ROOT`.

Like a real build it writes TARGET.hpp, works a while, reads the .hpp back and links TARGET:
two builds racing in one directory fail as real ones do ("model.hpp: No such file").
"""

import os
import re
import stat
import sys
import time
from pathlib import Path

src, target, root = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
program = src.read_text(encoding="utf-8")
if "syntax error" in program:
    print(f"Syntax error in '{src.name}', line 1, column 0, lexing error:", file=sys.stderr)
    sys.exit(1)
hpp = target.with_suffix(".hpp")
hpp.write_text(program, encoding="utf-8")
time.sleep(float(os.environ.get("FAKE_CMDSTAN_COMPILE_SECONDS", "0.3")))
try:
    translated = hpp.read_text(encoding="utf-8")
except FileNotFoundError:
    print(f"{hpp}: No such file or directory", file=sys.stderr)
    sys.exit(2)
hpp.unlink(missing_ok=True)

block = re.search(r"parameters\s*\{(.*?)\}", translated, re.S)
params = re.findall(r"real(?:<[^>]*>)?\s+(\w+)\s*;", block.group(1) if block else "")
template = (Path(__file__).parent / "model_template.py").read_text(encoding="utf-8")
exe = (
    f"#!{sys.executable}\n"
    f"PARAMS = {params!r}\n"
    f"LOG_LIK = {'log_lik' in translated!r}\n"
    f"TBB = {str(root / 'stan/lib/stan_math/lib/tbb/libtbb.so.2')!r}\n" + template
)
target.write_text(exe, encoding="utf-8")
target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
with open(root / "compile.log", "a", encoding="utf-8") as log:
    log.write(f"{os.getpid()} {target}\n")
