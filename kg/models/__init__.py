"""Graph models: registries of encoders, decoders and whole link predictors.

``ENCODERS`` ("none", "rgcn", "compgcn", "nbfnet": the path model), ``DECODERS`` ("distmult",
"complex", "rotate") and ``MODELS`` ("kge", "vgae") map names to a class and
its config dataclass, so the CLI and config files can address them by name.
"""

from kg.models.decoders import DECODERS, ComplEx, Decoder, DecoderConfig, DistMult, RotatE
from kg.models.encoders import (
    ENCODERS,
    CompGCNConfig,
    CompGCNEncoder,
    Encoded,
    Encoder,
    EncoderConfig,
    RGCNConfig,
    RGCNEncoder,
    ShallowEncoder,
)
from kg.models.link_predictor import (
    MODELS,
    Embeddings,
    LinkPredictor,
    LinkPredictorConfig,
    Proposals,
)
from kg.models.pathgnn import NBFNetConfig, NBFNetEncoder, PathGraph
from kg.models.registry import Registry
from kg.models.vgae import RelationalVGAE, gaussian_kl

__all__ = [
    "DECODERS", "ENCODERS", "MODELS", "CompGCNConfig", "CompGCNEncoder", "ComplEx", "Decoder",
    "DecoderConfig", "DistMult", "Embeddings", "Encoded", "Encoder", "EncoderConfig",
    "LinkPredictor", "LinkPredictorConfig", "NBFNetConfig", "NBFNetEncoder", "PathGraph",
    "Proposals", "RGCNConfig", "RGCNEncoder",
    "Registry", "RelationalVGAE", "RotatE", "ShallowEncoder", "gaussian_kl",
]
