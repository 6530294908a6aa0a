"""Randomly initialised Qwen2.5-VL checkpoints, built offline (no hub, no weights).

Latency does not depend on weight values, so a random model of a deployed size class measures
what a real one would cost; a tiny one exercises the real backend path in tests. The output layer
is zeroed: every logit is 0, greedy decoding always picks token id 0, which the tokenizer maps to
the text ``ANSWER_TOKEN``. The answer is therefore known exactly and never ends early (token 0 is
not end-of-sequence), so ``max_new_tokens`` fixes the answer length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ANSWER_TOKEN = "[42, 14]"  # token id 0
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# A minimal Qwen-style chat template: one user turn with an image and text.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Size classes. "3b" follows the published Qwen2.5-VL-3B-Instruct architecture sizes.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {
        "text": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "mrope_section": [2, 2, 4],
        },
        "vision": {
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "fullatt_block_indexes": [0],
        },
        "vocab_words": 0,
    },
    "3b": {
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "mrope_section": [16, 24, 24],
        },
        "vision": {
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "fullatt_block_indexes": [7, 15, 23, 31],
        },
        "vocab_words": 151_936,
    },
}


def save_random_qwen25_vl(
    folder: Path,
    size: str = "tiny",
    min_pixels: int = 28 * 28,
    max_pixels: int = 112 * 112,
    words: tuple[str, ...] = ("user", "assistant", "Locate", "the", "red", "cup"),
    dtype: str = "float32",
) -> Path:
    """Tokenizer, image processor, chat template and a random model, saved like a checkpoint.

    ``min_pixels``/``max_pixels`` bound the processor's resize (Qwen2.5-VL's own default max is
    12,845,056 pixels, which keeps a 1280x720 frame at about full size).
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    sizes = SIZES[size]
    base = [ANSWER_TOKEN, "<unk>", *words]
    padding = [
        f"w{i}" for i in range(max(0, sizes["vocab_words"] - len(base) - len(SPECIAL_TOKENS)))
    ]
    vocab = {word: i for i, word in enumerate(base + padding + list(SPECIAL_TOKENS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS),
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels).save_pretrained(folder)
    text = dict(sizes["text"])
    mrope = text.pop("mrope_section")
    vision = dict(sizes["vision"])
    config = Qwen2_5_VLConfig(
        text_config={
            **text,
            "vocab_size": len(vocab),
            "rope_parameters": {"rope_type": "default", "mrope_section": mrope},
            "eos_token_id": vocab["<|im_end|>"],
            "pad_token_id": vocab["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config={**vision, "out_hidden_size": text["hidden_size"]},
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    torch_dtype = getattr(torch, dtype)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch_dtype)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    model.save_pretrained(folder)
    return folder
