"""A relational variational graph auto-encoder (after Kipf & Welling 2016, VGAE).

The registered encoder's node representations give, per node, the mean and
log-variance of a diagonal Gaussian; training samples ``z = mu + sigma * eps``
(the reparameterisation trick) and adds the KL divergence to the standard
normal prior, which the task weighs into the loss. Evaluation and proposals
use the mean. In neighbour-sampled training the KL term averages over the
batch's seed nodes instead of all nodes. The relational decoder scores edges from ``z``, and
:meth:`LinkPredictor.propose` turns scores into calibrated edge probabilities.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kg.models.encoders import Encoded
from kg.models.link_predictor import MODELS, Embeddings, LinkPredictor, LinkPredictorConfig

# exp(10) bounds the variance: an unbounded log-variance can overflow in early steps
LOGVAR_LIMIT = 10.0


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) summed over dims, averaged over nodes: (N, d) -> ()."""
    return -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1))


@MODELS.register("vgae", LinkPredictorConfig)
class RelationalVGAE(LinkPredictor):
    def __init__(self, config: LinkPredictorConfig):
        super().__init__(config)
        if self.conditional:
            raise ValueError("the VGAE needs one vector per node; a path encoder "
                             f"({config.encoder!r}) has none")
        self.mu = nn.Linear(config.dim, config.dim)
        self.logvar = nn.Linear(config.dim, config.dim)
        self._reset_heads()

    def _reset_heads(self) -> None:
        self.mu.reset_parameters()
        # start near-deterministic (variance e^-4) so the decoder first sees a usable signal
        nn.init.zeros_(self.logvar.weight)
        nn.init.constant_(self.logvar.bias, -4.0)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "mu"):  # the base __init__ calls this before the heads exist
            self._reset_heads()

    def posterior(self, edge_index: Tensor, edge_type: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(mu, logvar, relations): (N, d), (N, d), (2R or R, d)."""
        return self._posterior(self.encoder(edge_index, edge_type))

    def _posterior(self, encoded: Encoded) -> tuple[Tensor, Tensor, Tensor]:
        emb = super()._embeddings(encoded)
        logvar = self.logvar(emb.nodes).clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT)
        return self.mu(emb.nodes), logvar, emb.relations

    def _embeddings(self, encoded: Encoded) -> Embeddings:
        # embed() and embed_subgraph() both come here
        mu, logvar, relations = self._posterior(encoded)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return Embeddings(z, relations, gaussian_kl(mu, logvar))

    def sample(self, edge_index: Tensor, edge_type: Tensor, num_samples: int = 1) -> Tensor:
        """Node embeddings drawn from the posterior: (num_samples, N, d)."""
        mu, logvar, _ = self.posterior(edge_index, edge_type)
        eps = torch.randn(num_samples, *mu.shape, device=mu.device, dtype=mu.dtype)
        return mu + eps * torch.exp(0.5 * logvar)
