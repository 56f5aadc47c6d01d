"""Pipeline-level functions of bioner_llama that need no model: the instruction
template; and the settings check of spacy_bioner.LlamaLabeler.v1."""
from __future__ import annotations

import pytest

from spacy_bioner.models.llama_labeler import build_llama_labeler
from spacy_bioner.pipeline.llama import DEFAULT_INSTRUCTION, check_instruction, format_instruction


def test_instruction_text() -> None:
    assert format_instruction(DEFAULT_INSTRUCTION, "disease", "NCBI-disease") == (
        "If any disease entity is mentioned in the NCBI-disease input, extract it. ##input: "
    )
    # VANER_adapt and the DBR samples: no dataset
    assert format_instruction(DEFAULT_INSTRUCTION, "disease", None) == (
        "If any disease entity is mentioned in the input, extract it. ##input: "
    )
    assert format_instruction("{type} [{dataset}]: ", "gene", "BC2GM") == "gene [BC2GM]: "
    # an empty name is no name; escaped braces stay literal
    assert format_instruction("{type} in {{dataset}} {dataset}: ", "gene", "") == "gene in {dataset}: "
    check_instruction(DEFAULT_INSTRUCTION)
    check_instruction("Tag {type}: ")
    for bad, match in (("Tag it: ", "no {type}"), ("{type} in {corpus}", "unknown field"), ("{type", "Invalid"),
                       ("", "empty")):
        with pytest.raises(ValueError, match=match):
            check_instruction(bad, "x")




def test_layer_settings_raise() -> None:
    for settings, match in (
        ({"quantize_4bit": True, "lora": False}, "4-bit weights cannot be trained"),
        ({"quantize_4bit": False, "lora": False, "base_weights": "reference"}, "must be saved"),
        ({"quantize_4bit": False, "lora": False, "torch_dtype": "bfloat16"}, "float32"),
        ({"base_weights": "disk"}, "base_weights"),
        ({"torch_dtype": "int8"}, "torch_dtype"),
        ({"attn_implementation": "flash_attention_2"}, "attn_implementation"),
        ({"lora_r": 0}, "lora_r"),
        ({"lora_alpha": 0}, "lora_alpha"),
        ({"lora_dropout": 1.0}, "lora_dropout"),
        ({"lora_target_modules": []}, "lora_target_modules"),
        ({"max_length": 1}, "max_length"),
        ({"dropout": -0.1}, "dropout"),
    ):
        with pytest.raises(ValueError, match=match):
            build_llama_labeler("any", **settings)
    layer = build_llama_labeler("any", lora_target_modules=["q_proj", "v_proj"])
    assert layer.shims[0].settings.lora_target_modules == ("q_proj", "v_proj")
    assert layer.shims[0].settings.structure()["lora_target_modules"] == ["q_proj", "v_proj"]


