# The body of a fake Stan model executable; fake_compile.py prepends the shebang, PARAMS (the
# program's scalar parameters), LOG_LIK (whether it has a log_lik vector) and TBB (the library
# path a real executable hard-codes).
#
# It takes CmdStan's command line (method=sample num_samples=... output file=... sig_figs=...),
# prints CmdStan's progress lines and writes a Stan CSV, one draw at a time. Steered by:
#   FAKE_STAN_FAIL=init        reject every initial value and exit 70, as CmdStan does
#                              (so does data with sigma < 0, as for a real model)
#   FAKE_STAN_FAIL_CHAINS=1,3  ... only for these chain ids (default: all)
#   FAKE_STAN_SECONDS=S        spend S seconds per chain (spread over the iterations)
#   FAKE_STAN_NONFATAL=K       print K warm-up "Metropolis proposal is about to be rejected" messages
#   FAKE_STAN_DIVERGENT=K      mark the first K draws divergent
#   FAKE_STAN_REOPEN=1         close the output file after its comments and reopen it to append
#   FAKE_STAN_PID_DIR=DIR      write DIR/<pid>.pid on start: the chain id, "pipe" or "file" (what
#                              its output file is), then the regular CSV files already in the
#                              output directory
# Also, as CmdStan: `info` prints the version; `log_prob constrained_params=F` writes lp__ and the
# gradient of a standard normal density on PARAMS (-x); `algorithm=fixed_param` starts every
# parameter at uniform(-2, 2) from (seed, id) and repeats that start as each draw; a sampling
# run echoes its `init`, `metric_file`, `stepsize` and `num_warmup` arguments, as CmdStan prints its
# configuration.
import json
import os
import random
import stat
import sys
import time

if not os.path.exists(TBB):  # noqa: F821 - prepended by fake_compile.py
    sys.stderr.write(
        f"{sys.argv[0]}: error while loading shared libraries: libtbb.so.2: "
        "cannot open shared object file: No such file or directory\n"
    )
    sys.exit(127)

if sys.argv[1:2] == ["info"]:
    print("stan_version_major = 2\nstan_version_minor = 36\nstan_version_patch = 0\nSTAN_THREADS = false")
    sys.exit(0)

args = {"sig_figs": "-1", "refresh": "100", "num_samples": "1000", "num_warmup": "1000",
        "id": "1", "seed": "0", "max_depth": "10", "delta": "0.8"}
section = ""
for token in sys.argv[1:]:
    if "=" not in token:
        section = token
        continue
    key, value = token.split("=", 1)
    if key == "file":
        key = f"{section}_file"
    args[key] = value

chain = int(args["id"])
if os.environ.get("FAKE_STAN_PID_DIR"):
    # The chain id, whether its output file is a named pipe ("pipe") or not ("file"), then the
    # regular CSV files already in the output directory when this chain started.
    folder = os.path.dirname(args["output_file"])
    csvs = sorted(n for n in os.listdir(folder) if n.endswith(".csv") and os.path.isfile(os.path.join(folder, n)))
    out_path = args["output_file"]
    kind = "pipe" if os.path.exists(out_path) and stat.S_ISFIFO(os.stat(out_path).st_mode) else "file"
    with open(os.path.join(os.environ["FAKE_STAN_PID_DIR"], f"{os.getpid()}.pid"), "w") as f:
        f.write("\n".join([str(chain), kind, *csvs]))

data = {}
if args.get("data_file"):
    with open(args["data_file"]) as f:
        data = json.load(f)

if "log_prob" in sys.argv[1:]:
    with open(args["constrained_params"]) as f:
        point = json.load(f)
    x = [float(point[name]) for name in PARAMS]  # noqa: F821
    with open(args["output_file"], "w") as out:
        out.write("# method = log_prob\n" + ",".join(["lp__", *(f"g_{i + 1}" for i in range(len(x)))]) + "\n")
        out.write(",".join(repr(v) for v in [-0.5 * sum(v * v for v in x), *(-v for v in x)]) + "\n")
    sys.exit(0)

fixed_param = args.get("algorithm") == "fixed_param"
print("method = sample (Default)")
print(f"id = {chain}")
print(f"init = {args.get('init', '2 (Default)')}")
print(f"metric_file = {args.get('metric_file', '(Default)')}")
print(f"stepsize = {args.get('stepsize', '1 (Default)')}")
print(f"num_warmup = {args.get('num_warmup', '1000 (Default)')}")
print()
sys.stdout.flush()

warmup, samples = 0 if fixed_param else int(args["num_warmup"]), int(args["num_samples"])
total = warmup + samples
refresh = max(int(args["refresh"]), 1)
sig_figs = int(args["sig_figs"])
pause = float(os.environ.get("FAKE_STAN_SECONDS", "0")) / max(total, 1)
nonfatal = int(os.environ.get("FAKE_STAN_NONFATAL", "0"))
divergent = int(os.environ.get("FAKE_STAN_DIVERGENT", "0"))
rng = random.Random(int(args["seed"]) * 1000 + chain)
n_obs = int(data.get("N", 0)) if LOG_LIK else 0  # noqa: F821
# A stream of its own, so the draws of a sampling run stay what they were before starts existed.
start_rng = random.Random(f"start-{args['seed']}-{chain}")
start = [start_rng.uniform(-2, 2) for _ in PARAMS]  # noqa: F821
step = 0.5 + 0.1 * chain


def fmt(x):
    # CmdStan's default is 6 significant digits; sig_figs=18 round-trips a double.
    return f"{x:.{sig_figs if sig_figs > 0 else 6}g}"


columns = ["lp__", "accept_stat__"]
if not fixed_param:
    columns += ["stepsize__", "treedepth__", "n_leapfrog__", "divergent__", "energy__"]
columns += list(PARAMS)  # noqa: F821
columns += [f"log_lik.{i + 1}" for i in range(n_obs)]
out = open(args["output_file"], "w")
out.write("\n".join([
    "# stan_version_major = 2", "# stan_version_minor = 36", "# stan_version_patch = 0",
    "# model = model", "# method = sample (Default)", "#   sample",
    f"#     num_samples = {samples}", f"#     num_warmup = {warmup}",
    "#     save_warmup = false (Default)", "#     thin = 1 (Default)",
    "#     adapt", "#       engaged = true (Default)", f"#       delta = {args['delta']}",
    "#     algorithm = hmc (Default)", "#       hmc", "#         engine = nuts (Default)",
    "#           nuts", f"#             max_depth = {args['max_depth']}",
    "#         metric = diag_e (Default)", f"# id = {chain}",
    f"# random\n#   seed = {args['seed']}", f"# output\n#   sig_figs = {sig_figs}",
]) + "\n")
out.flush()
fail_chains = os.environ.get("FAKE_STAN_FAIL_CHAINS")
# A negative scale (the tests' sigma=-1, as with a real model) or FAKE_STAN_FAIL=init.
if (data.get("sigma", 1) < 0 or os.environ.get("FAKE_STAN_FAIL") == "init") and (
    not fail_chains or str(chain) in fail_chains.split(",")
):
    for _ in range(3):
        print("Rejecting initial value:")
        print("  Error evaluating the log probability at the initial value.")
        print("Exception: normal_lpdf: Scale parameter is -1, but must be positive! "
              "(in 'model.stan', line 11, column 2 to column 24)")
    print()
    print("Initialization between (-2, 2) failed after 100 attempts. ")
    print(" Try specifying initial values, reducing ranges of constrained values, "
          "or reparameterizing the model.")
    print("Initialization failed.")
    sys.exit(70)

if os.environ.get("FAKE_STAN_REOPEN"):  # close the output file and open it again to append
    out.close()
    time.sleep(0.3)  # long enough for a reader to see the end of file
    out = open(args["output_file"], "a")
out.write(",".join(columns) + "\n")
centre = sum(data.get("y", [0.0])) / max(len(data.get("y", [0.0])), 1)
for it in range(1, total + 1):
    if pause:
        time.sleep(pause)
    if it <= warmup and it <= nonfatal:
        print("Informational Message: The current Metropolis proposal is about to be rejected "
              "because of the following issue:")
        print("Exception: multiply: multiplier is 0, but must be positive! "
              "(in 'model.stan', line 20, column 2 to column 30)")
        print("If this warning occurs sporadically, such as for highly constrained variable "
              "types like covariance matrices, then the sampler is fine,")
    if it == 1 or it % refresh == 0 or it == total:
        phase = "Warmup" if it <= warmup else "Sampling"
        print(f"Iteration: {it:{len(str(total))}d} / {total} [{100 * it // total:3d}%]  ({phase})")
        sys.stdout.flush()
    if it == warmup:
        out.write(f"# Adaptation terminated\n# Step size = {step}\n"
                  "# Diagonal elements of inverse mass matrix:\n# "
                  + ", ".join("1" for _ in PARAMS) + "\n")  # noqa: F821
    if it > warmup and fixed_param:
        out.write(",".join(fmt(x) for x in [0, 0, *start, *(-1.0 for _ in range(n_obs))]) + "\n")
    elif it > warmup:
        draw = it - warmup
        values = [rng.gauss(centre, 0.15) for _ in PARAMS]  # noqa: F821
        lp = -0.5 * sum(v * v for v in values) - rng.random()
        row = [lp, rng.random(), step, 2, 3, 1 if draw <= divergent else 0, -lp + rng.random()]
        row += values + [rng.gauss(-1.0, 0.1) for _ in range(n_obs)]
        out.write(",".join(fmt(x) for x in row) + "\n")
        out.flush()
out.write("# \n#  Elapsed Time: 0.001 seconds (Warm-up)\n#                0.001 seconds (Sampling)\n"
          "#                0.002 seconds (Total)\n# \n")
out.close()
print()
print("Elapsed Time: 0.001 seconds (Warm-up)")
