"""The bi-encoder module alone (pure torch): shapes, pooling, the shared and
the separate label encoder, the gathers, and gradients in training."""
from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertModel

from spacy_bioner.torch.label_matcher import LabelMatcherModule


def tiny_encoder(seed: int = 0, hidden: int = 16) -> BertModel:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=40, hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    return BertModel(config)


def module(**kwargs: object) -> LabelMatcherModule:
    torch.manual_seed(1)
    out = LabelMatcherModule(tiny_encoder(), dim=8, dropout=0.0, **kwargs)  # type: ignore[arg-type]
    # non-zero projections and bias: the tests compare real numbers
    for p in (out.text_proj.weight, out.label_proj.weight):
        torch.nn.init.normal_(p, std=0.5)
    torch.nn.init.normal_(out.bias)
    return out.eval()


def text_chunk() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]])
    return ids, (ids > 0).long()


def label_tokens() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[1, 9, 10, 2], [1, 11, 2, 0]])
    return ids, (ids > 0).long()


def test_shapes_and_pooling() -> None:
    m = module()
    ids, mask = text_chunk()
    assert m.encode_text(ids, mask).shape == (2, 5, 8)
    labels = m.encode_labels(*label_tokens())
    assert labels.shape == (2, 2, 8)
    # mean pooling ignores padding: the padded label equals itself alone
    alone = m.encode_labels(torch.tensor([[1, 11, 2]]), torch.ones((1, 3), dtype=torch.long))
    torch.testing.assert_close(labels[1], alone[0], rtol=1e-5, atol=1e-6)
    cls = module(label_pooling="cls")
    hidden = cls.encoder(input_ids=torch.tensor([[1, 11, 2]])).last_hidden_state[:, 0]
    expected = cls.label_proj(hidden).view(1, 2, 8)
    torch.testing.assert_close(cls.encode_labels(torch.tensor([[1, 11, 2]]), torch.ones((1, 3), dtype=torch.long)),
                               expected)


def test_score_is_a_bilinear_form() -> None:
    m = module(n_tags=3)
    tokens = torch.randn(2, 4, 8)
    labels = torch.randn(2, 3, 8)
    scores = m.score(tokens, labels)
    assert scores.shape == (2, 4, 3)
    expected = (tokens[1, 2] @ labels[1, 2]) / 8 ** 0.5 + m.bias[2]
    torch.testing.assert_close(scores[1, 2, 2], expected)


def test_forward_gathers_rows_and_labels() -> None:
    m = module()
    ids, mask = text_chunk()
    tokens = m.encode_text(ids, mask)
    labels = m.encode_labels(*label_tokens())
    n_positions = int(mask.sum())
    # one output chunk: text row 1 against label 0, text row 0 against label 1
    positions = torch.tensor([[5, 6, 7, n_positions, n_positions], [0, 1, 2, 3, 4]])
    out = m([(ids, mask)], [(positions, torch.tensor([0, 1]))], labels=labels)
    logits = out.view(2, 5, 2)
    torch.testing.assert_close(logits[0, :3], m.score(tokens[1:2, :3], labels[0:1])[0])
    torch.testing.assert_close(logits[1], m.score(tokens[0:1], labels[1:2])[0])
    # padding positions read the zero vector: their logits are the bias
    torch.testing.assert_close(logits[0, 3:], m.bias.expand(2, 2))
    # label vectors given or encoded in the same pass: the same logits
    again = m([(ids, mask)], [(positions, torch.tensor([0, 1]))], label_ids=label_tokens()[0],
              label_mask=label_tokens()[1])
    torch.testing.assert_close(again, out)


def test_gradients_reach_both_sides() -> None:
    for label_encoder in (None, tiny_encoder(seed=3)):
        m = LabelMatcherModule(tiny_encoder(), label_encoder, dim=8, dropout=0.1).train()
        ids, mask = text_chunk()
        out = m([(ids, mask)], [(torch.tensor([[0, 1, 2, 3, 4]]), torch.tensor([1]))],
                label_ids=label_tokens()[0], label_mask=label_tokens()[1])
        out.sum().backward()
        label_side = m.encoder if label_encoder is None else m.label_encoder
        assert m.shared == (label_encoder is None)
        assert m.encoder.embeddings.word_embeddings.weight.grad is not None
        assert label_side.embeddings.word_embeddings.weight.grad[11].abs().sum() > 0
        assert m.label_proj.weight.grad.abs().sum() > 0 and m.text_proj.weight.grad.abs().sum() > 0


def test_separate_label_encoder_has_its_own_size() -> None:
    m = LabelMatcherModule(tiny_encoder(), tiny_encoder(seed=2, hidden=24), dim=8)
    assert m.label_proj.in_features == 24 and m.text_proj.in_features == 16
    assert any(key.startswith("label_encoder.") for key in m.state_dict())
    assert not any(key.startswith("label_encoder.") for key in module().state_dict())


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="n_tags"):
        LabelMatcherModule(tiny_encoder(), n_tags=1)
    with pytest.raises(ValueError, match="dim"):
        LabelMatcherModule(tiny_encoder(), dim=0)
    with pytest.raises(ValueError, match="label_pooling"):
        LabelMatcherModule(tiny_encoder(), label_pooling="max")
    with pytest.raises(ValueError, match="label_ids"):
        module()([text_chunk()], [])


def test_no_output_chunks() -> None:
    m = module()
    out = m([], [], labels=torch.zeros((1, 2, 8)))
    assert out.shape == (0,)


def test_frozen_label_encoder_gets_no_gradient_and_stays_in_eval_mode() -> None:
    with pytest.raises(ValueError, match="separate label_encoder"):
        LabelMatcherModule(tiny_encoder(), freeze_labels=True)
    m = LabelMatcherModule(tiny_encoder(), tiny_encoder(seed=3), dim=8, dropout=0.1, freeze_labels=True)
    m.train()
    assert m.training and m.encoder.training and not m.label_encoder.training
    ids, mask = text_chunk()
    positions = torch.arange(int(mask.sum())).view(1, -1)
    out = m([(ids, mask)], [(positions, torch.tensor([0]))], label_ids=label_tokens()[0], label_mask=label_tokens()[1])
    out.sum().backward()
    assert all(p.grad is None for p in m.label_encoder.parameters())
    assert m.label_proj.weight.grad is not None and m.text_proj.weight.grad is not None
    assert any(p.grad is not None for p in m.encoder.parameters())


@pytest.mark.parametrize("n_tags", [2, 3])
def test_identity_head_init_scores_with_the_encoders_own_similarity(n_tags: int) -> None:
    torch.manual_seed(1)
    m = LabelMatcherModule(tiny_encoder(hidden=16), tiny_encoder(seed=3, hidden=16), n_tags=n_tags, dim=16,
                           dropout=0.0, head_init="identity").eval()
    ids, mask = text_chunk()
    label_ids, label_mask = label_tokens()
    tokens = m.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    hidden = m.label_encoder(input_ids=label_ids, attention_mask=label_mask).last_hidden_state
    weights = label_mask.unsqueeze(-1).float()
    pooled = (hidden * weights).sum(1) / weights.sum(1)
    scores = m.score(m.encode_text(ids, mask), m.encode_labels(label_ids, label_mask)[[1, 0]])
    similarity = torch.einsum("rld,rd->rl", tokens, pooled[[1, 0]]) / 16 ** 0.5
    # outside scores 0; every other tag the pretrained dot product of subword and label
    torch.testing.assert_close(scores[..., 0], torch.zeros_like(similarity))
    for tag in range(1, n_tags):
        torch.testing.assert_close(scores[..., tag], similarity, rtol=1e-4, atol=1e-5)


def test_identity_head_init_needs_dim_equal_to_the_hidden_sizes() -> None:
    with pytest.raises(ValueError, match="head_init 'identity' needs dim equal"):
        LabelMatcherModule(tiny_encoder(hidden=16), dim=8, head_init="identity")
    with pytest.raises(ValueError, match="head_init 'identity' needs dim equal"):
        LabelMatcherModule(tiny_encoder(hidden=16), tiny_encoder(hidden=32), dim=16, head_init="identity")
    with pytest.raises(ValueError, match="head_init must be one of"):
        LabelMatcherModule(tiny_encoder(hidden=16), dim=16, head_init="zeros")


def tokens_module(**kwargs: object) -> LabelMatcherModule:
    torch.manual_seed(1)
    out = LabelMatcherModule(tiny_encoder(), dim=8, dropout=0.0, interaction="tokens", **kwargs)  # type: ignore[arg-type]
    assert out.match is not None
    for p in (out.text_proj.weight, out.label_proj.weight, out.match.weight):
        torch.nn.init.normal_(p, std=0.5)
    torch.nn.init.normal_(out.bias)
    return out.eval()


def late_interaction(m: LabelMatcherModule, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """The definition, one subword at a time: attention over the label's tokens,
    then the shared linear layer on (agreement, best dot product)."""
    assert m.match is not None
    out = []
    for q in query:
        sim = keys @ q / 8 ** 0.5
        attended = torch.softmax(sim, dim=0) @ keys
        out.append(m.match.weight @ torch.cat([q * attended, sim.max().view(1)]) + m.bias)
    return torch.stack(out)


def test_tokens_interaction_attends_over_each_labels_own_tokens() -> None:
    m = tokens_module()
    ids, mask = text_chunk()
    label_ids, label_mask = label_tokens()
    labels = m.encode_labels(label_ids, label_mask)
    # one (tokens, dim) tensor per label, its padding dropped, equal to the label encoded alone
    assert isinstance(labels, list) and [tuple(x.shape) for x in labels] == [(4, 8), (3, 8)]
    alone = m.encode_labels(torch.tensor([[1, 11, 2]]), torch.ones((1, 3), dtype=torch.long))
    torch.testing.assert_close(labels[1], alone[0], rtol=1e-5, atol=1e-6)
    tokens = m.encode_text(ids, mask)
    n_positions = int(mask.sum())
    # rows out of label order: label 1, label 0, label 1
    positions = torch.tensor([[0, 1, 2, 3, 4], [5, 6, 7, n_positions, n_positions], [5, 6, 7, n_positions, n_positions]])
    out = m([(ids, mask)], [(positions, torch.tensor([1, 0, 1]))], labels=labels).view(3, 5, 2)
    torch.testing.assert_close(out[0], late_interaction(m, tokens[0], labels[1]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[1, :3], late_interaction(m, tokens[1, :3], labels[0]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[2, :3], late_interaction(m, tokens[1, :3], labels[1]), rtol=1e-5, atol=1e-5)
    # a label's logits depend on its words: the same row against the other label differs
    assert not torch.allclose(out[1, :3], out[2, :3])
    # encoded in the same pass (training): the same logits
    again = m([(ids, mask)], [(positions, torch.tensor([1, 0, 1]))], label_ids=label_ids, label_mask=label_mask)
    torch.testing.assert_close(again.view(3, 5, 2), out)


def test_tokens_interaction_trains_every_part_and_rejects_the_identity_init() -> None:
    m = LabelMatcherModule(tiny_encoder(), dim=8, dropout=0.1, interaction="tokens").train()
    assert m.label_proj.out_features == 8 and m.match is not None and m.match.in_features == 9
    ids, mask = text_chunk()
    out = m([(ids, mask)], [(torch.tensor([[0, 1, 2, 3, 4]]), torch.tensor([1]))],
            label_ids=label_tokens()[0], label_mask=label_tokens()[1])
    out.sum().backward()
    assert m.encoder.embeddings.word_embeddings.weight.grad[11].abs().sum() > 0  # the label's word
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in (m.label_proj.weight, m.text_proj.weight, m.match.weight))
    assert module().match is None
    with pytest.raises(ValueError, match="pooled interaction only"):
        LabelMatcherModule(tiny_encoder(hidden=16), dim=16, interaction="tokens", head_init="identity")
    with pytest.raises(ValueError, match="interaction must be one of"):
        LabelMatcherModule(tiny_encoder(), interaction="cross")
