"""Conformance kit for `Encoder` implementations (subclass in a test file)."""

from __future__ import annotations

import torch

from pyrodyn.nn.encoders.base import Encoder


class EncoderConformance:
    """Mixin of pytest checks every `Encoder` passes.

    A concrete test class implements :meth:`make_encoder` and :meth:`make_input` (returning
    ``(x, mask)`` for a batch of size ``B``) and inherits: Normal output with the documented
    batch shape, positive scales, masking changes nothing when everything is observed,
    reparameterised gradients, device moves.
    """

    def make_encoder(self) -> Encoder:
        """The encoder under test."""
        raise NotImplementedError("implement make_encoder() in the test class")

    def make_input(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, mask)`` for ``batch_size`` rows."""
        raise NotImplementedError("implement make_input() in the test class")

    def test_output_is_a_diagonal_normal(self) -> None:
        enc = self.make_encoder()
        x, mask = self.make_input(3)
        q = enc(x, mask)
        assert q.batch_shape[0] == 3
        assert q.batch_shape[-1] == enc.latent_dim
        assert bool((q.scale > 0).all())
        assert torch.isfinite(q.loc).all()

    def test_full_mask_equals_no_mask(self) -> None:
        enc = self.make_encoder()
        x, _ = self.make_input(2)
        full = torch.ones_like(x, dtype=torch.bool)
        torch.testing.assert_close(enc(x, full).loc, enc(x, None).loc)

    def test_rows_are_independent(self) -> None:
        enc = self.make_encoder()
        x, mask = self.make_input(2)
        ref = enc(x, mask).loc[0]
        x2 = x.clone()
        x2[1] = x2[1] + 3.0
        torch.testing.assert_close(enc(x2, mask).loc[0], ref)

    def test_reparameterised_gradients(self) -> None:
        enc = self.make_encoder()
        x, mask = self.make_input(2)
        enc(x, mask).rsample().sum().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())

    def test_device_move(self, device: torch.device) -> None:
        enc = self.make_encoder().to(device)
        x, mask = self.make_input(2)
        assert enc(x.to(device), mask.to(device)).loc.device.type == device.type
