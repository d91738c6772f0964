"""Describe networks built from genotypes: parameters, mult-adds, endpoints.

Library side of ``model_zoo/summarize.py`` (no flags here).

Example:
    >>> row = describe(known_genotypes.NASNET_A, networks.MOBILE, "mobile")
    >>> row.parameters
    5326716
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from nasnet import flops, networks
from nasnet.genotype import Genotype


@dataclasses.dataclass(frozen=True)
class NetworkSummary:
    genotype: str
    fingerprint: str
    preset: str
    size: str              # "N@P"
    image_size: int
    num_classes: int
    parameters: int        # without the auxiliary head (as the papers count)
    aux_head_parameters: int
    mult_adds: int         # one image, inference, conv + dense (see nasnet.flops)
    endpoints: dict[str, list[int | None]]


def describe(genotype: Genotype, config: networks.ClassifierConfig, preset: str,
             count_mult_adds: bool = True) -> NetworkSummary:
    """Builds the classifier for ``genotype`` under ``config`` and measures it."""
    with_aux = networks.build_classifier(genotype, dataclasses.replace(config, use_aux_head=True))
    model = networks.inference_model(with_aux)
    params = model.count_params()
    backbone = next(layer for layer in with_aux.layers
                    if isinstance(layer, networks.NasnetBackbone))
    size = config.image_size
    madds = flops.count_mult_adds(model, (size, size, 3)) if count_mult_adds else -1
    return NetworkSummary(
        genotype=genotype.name or genotype.fingerprint(), fingerprint=genotype.fingerprint(),
        preset=preset, size=config.backbone.size, image_size=size,
        num_classes=config.num_classes, parameters=params,
        aux_head_parameters=with_aux.count_params() - params, mult_adds=madds,
        endpoints={k: list(v) for k, v in sorted(backbone.output_specs.items(), key=lambda kv: int(kv[0]))})


def format_table(rows: Sequence[NetworkSummary]) -> str:
    """A Markdown table, one network per row."""
    header = ("| genotype | preset | N@P | input | classes | parameters | aux head | mult-adds |\n"
              "|---|---|---|---|---|---:|---:|---:|")
    lines = [header]
    for r in rows:
        madds = f"{r.mult_adds / 1e6:,.1f}M" if r.mult_adds >= 0 else "-"
        lines.append(f"| {r.genotype} | {r.preset} | {r.size} | {r.image_size}x{r.image_size} "
                     f"| {r.num_classes} | {r.parameters:,} | {r.aux_head_parameters:,} | {madds} |")
    return "\n".join(lines)
