"""The ``summarize`` binary: builds networks from genotypes, prints parameters and
mult-adds, draws the cells (the published cells of ``nasnet.known_genotypes`` by default).

    bazel run //model_zoo:summarize -- --output_dir=out/summary
    bazel run //model_zoo:summarize -- --genotypes=nasnet_a,pnasnet_5 --presets=mobile,cifar
    python -m model_zoo.summarize --genotype_file=best.json --presets=mobile --size=4@1056

Writes ``summary.md`` and ``summary.json`` (written atomically) and, per
genotype, ``cells/<name>/{normal,reduction}.{png,svg}``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

if __package__ in (None, ""):  # `python model_zoo/summarize.py`: the repository root goes first
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import flags

from nasnet import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "out/summary", "Where summary.md, summary.json and cells/ go.")
flags.DEFINE_list("genotypes", ["nasnet_a"], "Published genotypes to build "
                  "(nasnet_a, pnasnet_5, amoebanet_a).")
flags.DEFINE_string("genotype_file", None, "A genotype JSON file to build as well.")
flags.DEFINE_list("presets", ["mobile", "cifar"], "Network presets (nasnet.networks.PRESETS): "
                  "cifar, mobile, large (NASNet-A's), pnasnet_mobile, pnasnet_large, "
                  "amoebanet_a_mobile, amoebanet_a_large (each published cell's own network).")
flags.DEFINE_string("size", None, "Override N@P of every preset, e.g. 4@1056.")
flags.DEFINE_bool("mult_adds", True, "Count mult-adds (traces each network once).")


def main(argv: list[str]) -> int:
    del argv  # no positional arguments (cli.run refuses them)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from nasnet import config_utils, diagram, io_utils, known_genotypes, networks, summary
    from nasnet.genotype import Genotype

    # Every input is checked before the first file is written.
    genotypes = [known_genotypes.get(name) for name in FLAGS.genotypes]
    if FLAGS.genotype_file:
        genotypes.append(Genotype.load(cli.user_path(FLAGS.genotype_file)))
    unknown = [p for p in FLAGS.presets if p not in networks.PRESETS]
    if unknown:
        raise ValueError(f"unknown preset(s) {unknown}; known: {sorted(networks.PRESETS)}")
    overrides = {}
    if FLAGS.size:
        n, p = networks.parse_size(FLAGS.size)
        overrides = {"backbone.num_cells_per_stack": n, "backbone.penultimate_filters": p}
    configs = {preset: config_utils.override(networks.PRESETS[preset], overrides)
               for preset in FLAGS.presets}
    for genotype in genotypes:
        for preset, config in configs.items():
            try:
                config.backbone.filters_for(genotype)
            except ValueError as e:
                raise ValueError(f"{genotype.name or genotype.fingerprint()} / {preset}: "
                                 f"{e}") from None
    out = cli.check_output_dir(cli.user_path(FLAGS.output_dir), "--output_dir")

    rows = []
    start = time.time()
    for genotype in genotypes:
        name = genotype.name or genotype.fingerprint()
        paths = diagram.render_genotype(genotype, os.path.join(out, "cells", name))
        print(f"[{time.time() - start:6.1f}s] drew {name}: "
              f"{', '.join(os.path.relpath(p, out) for p in paths)}", flush=True)
        for preset, config in configs.items():
            row = summary.describe(genotype, config, preset, count_mult_adds=FLAGS.mult_adds)
            rows.append(row)
            print(f"[{time.time() - start:6.1f}s] built {name} {preset} {row.size}: "
                  f"{row.parameters:,} parameters", flush=True)

    table = summary.format_table(rows)
    io_utils.atomic_write_text(os.path.join(out, "summary.md"), table + "\n")
    io_utils.atomic_write_json(os.path.join(out, "summary.json"),
                               [dataclasses.asdict(r) for r in rows])
    print()
    print(table)
    print(f"\nwrote {cli.display_path(out)}/summary.md, summary.json and cells/")
    return 0


def run() -> None:
    cli.run(main, "summarize")


if __name__ == "__main__":
    run()
