"""Tiny Coqui models with random weights, built with coqui's own classes and saved the way
coqui's trainer saves them: ``config.json`` and ``checkpoint_<step>.pth`` (``{"model":
state_dict, "config": ..., "step": ...}``) in one folder, plus ``speakers.pth`` for a
multi-speaker model.

Random weights would speak for a random length, so the duration predictor is fixed: its
last layer gives every input token :data:`FRAMES_PER_TOKEN` frames.  The audio is noise,
but its length follows the text like speech does.
"""

from __future__ import annotations

import math
import string
from pathlib import Path
from typing import Any

SAMPLE_RATE = 22_050
HOP_LENGTH = 256
FRAMES_PER_TOKEN = 3.5
"""Frames per input token; VITS puts a blank between characters, so about 8 frames
(0.09 s) per character after rounding up."""

SECONDS_PER_CHAR = 2 * math.ceil(FRAMES_PER_TOKEN) * HOP_LENGTH / SAMPLE_RATE

SPEAKERS = ("ana", "bob", "cy")

LEVEL = 0.1
"""RMS the random decoder is scaled to, so that the noise is neither silent nor clipped."""


def tiny_vits_args(**changes: Any) -> Any:
    from TTS.tts.configs.vits_config import VitsArgs

    settings: dict[str, Any] = dict(
        hidden_channels=16, hidden_channels_ffn_text_encoder=32, num_heads_text_encoder=2,
        num_layers_text_encoder=1, num_layers_posterior_encoder=1, num_layers_flow=1,
        upsample_initial_channel_decoder=16, resblock_kernel_sizes_decoder=[3],
        resblock_dilation_sizes_decoder=[[1, 3, 5]], speaker_embedding_channels=16,
        use_sdp=False, init_discriminator=False,
    )  # fmt: skip
    settings.update(changes)
    return VitsArgs(**settings)


def fix_durations(model: Any, frames_per_token: float = FRAMES_PER_TOKEN) -> None:
    """Make the (deterministic) duration predictor give every token the same duration."""
    import torch

    with torch.no_grad():
        model.duration_predictor.proj.weight.zero_()
        model.duration_predictor.proj.bias.fill_(math.log(frames_per_token))


def set_level(model: Any, speaker: str | None, level: float = LEVEL) -> None:
    """Scale the decoder's last layer so the model speaks at about *level* RMS."""
    import torch

    model.eval()
    for _ in range(3):  # tanh bends the first guess
        wav = model.synthesize("A sentence to measure the level with.", speaker=speaker)["wav"]
        rms = float(torch.as_tensor(wav).float().pow(2).mean().sqrt())
        with torch.no_grad():
            model.waveform_decoder.conv_post.weight.mul_(level / max(rms, 1e-9))
    model.train()


def build_vits(
    folder: Path, *, speakers: tuple[str, ...] = (), seed: int = 0, letters: str = ""
) -> Path:
    """Save a tiny character-input VITS (multi-speaker when *speakers* are given) in *folder*.

    *letters* are added to its alphabet, and then its text cleaner keeps every letter (a
    German model: "äöüß"); without, it is coqui's English cleaner and alphabet.  Returns
    the folder.
    """
    import torch
    from trainer.io import copy_model_files, save_checkpoint
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits
    from TTS.tts.utils.speakers import SpeakerManager

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = VitsConfig(
        model_args=tiny_vits_args(use_speaker_embedding=bool(speakers)),
        use_phonemes=False, text_cleaner="english_cleaners", run_name="tiny",
    )  # fmt: skip
    config.audio.sample_rate = SAMPLE_RATE
    if letters:
        from TTS.tts.models.vits import VitsCharacters

        alphabet = string.ascii_uppercase + string.ascii_lowercase + letters  # coqui's + letters
        config.characters = VitsCharacters(graphemes=alphabet).to_config()
        config.text_cleaner = "multilingual_cleaners"
    if speakers:
        # what coqui's trainer does in BaseTTS.on_init_start
        speakers_file = folder / "speakers.pth"
        manager = SpeakerManager()
        manager.name_to_id = {name: i for i, name in enumerate(speakers)}
        manager.save_ids_to_file(speakers_file)
        config.use_speaker_embedding = True
        config.speakers_file = config.model_args.speakers_file = str(speakers_file)
    model = Vits(config)
    fix_durations(model)
    set_level(model, speakers[0] if speakers else None)
    copy_model_files(model.config, folder, {})
    save_checkpoint(model.config, model, folder, current_step=1, epoch=0)
    return folder


def build_xtts(
    folder: Path, *, speakers: tuple[str, ...] = ("Ana Florence",), seed: int = 0
) -> Path:
    """Save a tiny XTTS (one GPT layer, a small vocabulary) in *folder*, as released models
    are laid out: ``config.json``, ``model.pth``, ``vocab.json``, ``speakers_xtts.pth``.

    The HiFi-GAN decoder and its speaker encoder keep XTTS's fixed sizes, so cloning runs
    the real conditioning code.  GPT may stop at any token, so ``gpt_max_audio_tokens``
    caps every clip at under a second.
    """
    import torch
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    vocab = folder / "vocab.json"
    _write_vocab(vocab)
    args = XttsArgs(
        gpt_layers=1, gpt_n_model_channels=64, gpt_n_heads=2, gpt_max_audio_tokens=16,
        gpt_max_text_tokens=402, gpt_max_prompt_tokens=70, gpt_num_audio_tokens=66,
        gpt_start_audio_token=64, gpt_stop_audio_token=65, gpt_use_perceiver_resampler=True,
        decoder_input_dim=64, d_vector_dim=512, tokenizer_file=str(vocab),
    )  # fmt: skip
    config = XttsConfig(model_args=args)
    config.languages = ["en", "de"]
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(vocab))
    model.init_models()
    model.eval()
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    latent_frames = 32  # the perceiver resampler's output length
    builtin = {
        name: {
            "gpt_cond_latent": torch.randn(1, latent_frames, args.gpt_n_model_channels),
            "speaker_embedding": torch.randn(1, args.d_vector_dim, 1),
        }
        for name in speakers
    }
    torch.save(builtin, folder / "speakers_xtts.pth")
    return folder


def _write_vocab(path: Path) -> None:
    """A BPE vocabulary of single characters and XTTS's special tokens (no merges)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]", "[en]", "[de]"]
    letters = list("abcdefghijklmnopqrstuvwxyzäöüß0123456789.,;:!?'\"-()")
    vocab = {token: i for i, token in enumerate(specials + letters)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens(specials)
    tokenizer.save(str(path))


def write_preset(path: Path, model: str | Path, **fields: Any) -> Path:
    """A coqui preset file for *model*; *fields* add keys (``options`` is a table)."""
    options = fields.pop("options", {})
    values: dict[str, Any] = {
        "name": path.stem, "engine": "coqui", "model": str(model), "language": "en",
        "description": f"test model {Path(str(model)).name}",
    }  # fmt: skip
    values.update(fields)
    lines = [f"{key} = {_toml(value)}" for key, value in values.items()]
    if options:
        lines.append("\n[options]")
        lines += [f"{key} = {_toml(value)}" for key, value in options.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    import json

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))
