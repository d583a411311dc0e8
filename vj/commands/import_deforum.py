"""``vj import deforum SETTINGS.txt|json [-o set.yaml]``: a Deforum settings file → a vj setlist.

Deforum (the A1111 extension and the notebook) saves its settings as JSON, ``*_settings.txt``.
What comes across, and how:

- ``animation_prompts`` (or ``prompts``), keyed by frame (a number, or an expression of
  ``max_f``): frame 0 is the song's prompt, every other key a cue at ``frame / fps`` seconds with
  no transition (Deforum switches hard). ``positive --neg negative`` is honoured: the negative goes
  to a style (one style per distinct negative; ``animation_prompts_positive`` / ``_negative`` are
  the style's prefix and part of every negative).
- ``animation_mode`` 2D / 3D → ``camera.mode``; ``zoom``, ``angle``, ``translation_x/y/z``,
  ``rotation_3d_x/y/z``, ``fov_schedule`` / ``near_schedule`` / ``far_schedule`` (or the notebook's
  ``fov`` / ``near_plane`` / ``far_plane``) → the camera's schedules, **the original strings**
  (vj reads them as Deforum does: see docs/setlist.md).
- ``noise_schedule`` → the style's ``noise`` (the same meaning). ``strength_schedule`` (Deforum:
  how much of the previous frame stays) → ``strength`` (vj: how much is repainted), each value
  ``1 - v``; ``contrast_schedule`` → ``contrast_drift``, each value ``v - 1``. The original string
  is in a comment beside each.
- ``seed`` → the setlist's ``seed`` (-1, random, becomes 0); ``seed_behavior`` and
  ``seed_schedule``: a comment (vj keeps one seed per style; cues change it).
- ``fps``, ``W`` / ``H`` → ``output``; ``max_frames`` → a comment (vj takes the length from the
  song's audio: ``max_f`` is the audio's last frame).
- ``color_coherence`` (LAB, HSV, RGB: match to the first frame) → ``coherence: 1``;
  ``border`` (2D) / ``padding_mode`` (3D) → the style's ``border``; ``sampler`` → the model's
  sampler where vj has it; ``steps`` → ``steps`` (vj's few-step models take 1-4).
- every other setting (``diffusion_cadence``, hybrid video, ControlNet, ...) → a comment line
  saying vj has no equivalent.

A key this module does not know as Deforum's is an error (``--keep-unknown``: a comment instead).
The output is written only once it loads with :func:`load_setlist` and its schedules compile; a
bad input leaves no file behind.
"""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vj.commands.written import write_checked
from vj.errors import LocatedError, SetlistError, VjError

#: Largest settings file read (a Deforum settings file is a few kB; a 100 MB "settings" is a mistake).
MAX_BYTES = 5 * 1024 * 1024


class DeforumImportError(LocatedError):
    """A Deforum settings file that cannot be turned into a setlist: file, line, the setting."""

    nameless = "<deforum settings>"


# ---- what Deforum writes ------------------------------------------------------------------------

#: Settings that come across (handled below).
_MAPPED = {
    "animation_prompts", "prompts", "animation_prompts_positive", "animation_prompts_negative",
    "animation_mode", "zoom", "angle", "translation_x", "translation_y", "translation_z",
    "rotation_3d_x", "rotation_3d_y", "rotation_3d_z", "fov_schedule", "near_schedule", "far_schedule",
    "fov", "near_plane", "far_plane", "noise_schedule", "strength_schedule", "contrast_schedule",
    "seed", "seed_behavior", "seed_schedule", "fps", "W", "H", "max_frames", "color_coherence",
    "border", "padding_mode", "sampler", "steps", "diffusion_cadence", "cfg_scale_schedule", "batch_name",
    "soundtrack_path", "add_soundtrack",
}
#: Settings with no vj equivalent and why (shown in the comment); the rest of the known ones get
#: the generic reason.
_WHY = {
    "diffusion_cadence": "vj diffuses every frame it can; live, the display warps between generator frames",
    "cfg_scale_schedule": "vj's few-step models run with guidance 0-2; set the style's guidance by hand",
    "seed_behavior": "vj keeps one seed per style (setlist seed + style seed); a cue may set its own",
    "seed_schedule": "no seed schedule in vj: seeds change with cues and styles",
    "max_frames": "vj takes the length from the song's audio (max_f is its last frame)",
    "transform_center_x": "vj turns and zooms about the centre",
    "transform_center_y": "vj turns and zooms about the centre",
    "use_depth_warping": "3D depth comes from camera.depth (plane or model:...)",
    "depth_algorithm": "3D depth comes from camera.depth (plane or model:...)",
    "midas_weight": "3D depth comes from camera.depth (plane or model:...)",
    "aspect_ratio_schedule": "the aspect ratio is the output size's",
    "optical_flow_cadence": "no optical flow in vj",
    "enable_perspective_flip": "no perspective flip in vj",
    "checkpoint_schedule": "one model per setlist",
    "sampling_mode": "vj's warp samples bilinearly",
    "add_soundtrack": "the song's audio is the setlist song's audio:",
    "soundtrack_path": "give it as the song's audio:",
}
_KNOWN_EXACT = {
    # A1111 extension (args.py), the notebook, and what the settings file adds around them
    "show_info_on_ui", "tiling", "restore_faces", "seed_resize_from_w", "seed_resize_from_h", "seed_enable_extras",
    "subseed", "subseed_strength", "seed_iter_N", "batch_name", "n_batch", "save_settings", "save_samples",
    "display_samples", "save_sample_per_step", "show_sample_per_step", "override_these_with_webui", "filename_format",
    "use_init", "strength", "strength_0_no_init", "init_image", "init_image_box", "use_mask", "use_alpha_as_mask",
    "mask_file", "invert_mask", "mask_contrast_adjust", "mask_brightness_adjust", "overlay_mask", "mask_overlay_blur",
    "fill", "full_res_mask", "full_res_mask_padding", "reroll_blank_frames", "reroll_patience", "precision",
    "timestring", "outdir", "motion_preview_mode", "outdir_samples", "prompt", "negative_prompt",
    "scale", "ddim_eta", "C", "f", "n_samples", "dynamic_threshold", "static_threshold", "log_weighted_subprompts",
    "make_grid", "grid_rows", "init_c", "init_latent", "init_sample", "clip_name", "clip_scale", "aesthetics_scale",
    "cutn", "cut_pow", "colormatch_scale", "colormatch_image", "colormatch_n_colors", "ignore_sat_weight",
    "mean_scale", "var_scale", "exposure_scale", "exposure_target", "gradient_wrt", "gradient_add_to",
    "decode_method", "grad_threshold_type", "clamp_grad_threshold", "clamp_start", "clamp_stop",
    "grad_inject_timing", "cond_uncond_sync", "use_areas", "areas", "save_depth_maps", "video_init_path",
    "extract_nth_frame", "extract_from_frame", "extract_to_frame", "overwrite_extracted_frames",
    "use_mask_video", "video_mask_path", "resume_from_timestring", "resume_timestring", "interpolate_key_frames",
    "interpolate_x_frames", "resume_from_frame", "resume_from", "enable_steps_scheduling", "steps_schedule",
    "enable_ddim_eta_scheduling", "ddim_eta_schedule", "enable_ancestral_eta_scheduling", "ancestral_eta_schedule",
    "enable_sampler_scheduling", "sampler_schedule", "enable_checkpoint_scheduling", "checkpoint_schedule",
    "enable_clipskip_scheduling", "clipskip_schedule", "enable_noise_multiplier_scheduling",
    "noise_multiplier_schedule", "enable_subseed_scheduling", "subseed_schedule", "subseed_strength_schedule",
    "pix2pix_img_cfg_scale", "pix2pix_img_cfg_scale_schedule", "mask_schedule", "use_noise_mask", "noise_mask_schedule",
    "noise_type", "perspective_flip_theta", "perspective_flip_phi", "perspective_flip_gamma", "perspective_flip_fv",
    "aspect_ratio_use_old_formula", "legacy_colormatch", "kernel_schedule", "sigma_schedule", "amount_schedule",
    "threshold_schedule", "amount_schedule", "skip_video_creation", "skip_video_for_run_all", "make_gif",
    "delete_imgs", "delete_input_frames", "image_path", "mp4_path", "render_steps", "path_name_modifier",
    "store_frames_in_ram", "frame_interpolation_engine", "frame_interpolation_x_amount",
    "frame_interpolation_slow_mo_enabled", "frame_interpolation_slow_mo_amount",
    "frame_interpolation_keep_imgs", "frame_interpolation_use_upscaled", "r_upscale_video", "r_upscale_factor",
    "r_upscale_model", "r_upscale_keep_imgs", "sd_model_name", "sd_model_hash", "deforum_git_commit_id",
    "animation_prompts_positive", "animation_prompts_negative", "use_looper", "init_images", "image_strength_schedule",
    "blendFactorMax", "blendFactorSlope", "tweening_frames_schedule", "color_correction_factor",
    "cadence_flow_factor_schedule", "redo_flow_factor_schedule", "optical_flow_redo_generation",
    "redo_flow_factor", "diffusion_redo", "enable_perspective_flip", "use_depth_warping", "depth_algorithm",
    "midas_weight", "aspect_ratio_schedule", "optical_flow_cadence", "transform_center_x", "transform_center_y",
    "sampling_mode", "near_plane", "far_plane", "fov", "clipseg_threshold", "save_grid", "prompts_path",
    "frames_scale", "frames_skip_steps", "turbo_mode", "turbo_steps", "turbo_preroll", "key_frames",
    "interp_spline", "midas_depth_model", "extract_nth_frame", "video_init_seed_continuity", "animation_prompts",
    "prompt_weighting", "normalize_prompt_weights", "init_mse_scale", "init_mse_image", "blue_scale",
    "init_sample_raw", "seed_internal", "flip_2d_perspective", "use_checkpoint", "model_config", "model_checkpoint",
    "custom_config_path", "custom_checkpoint_path", "half_precision", "bit_depth_output", "resume_from",
    "pix2pix_img_cfg_scale", "mp4_path", "render_steps", "max_video_frames", "use_manual_settings", "use_mp4_path",
    "upscale_ratio", "generate_gif", "delete_imgs", "is_loop", "seed_travel", "W_scaled", "H_scaled", "outdir_final",
}
#: Families of Deforum settings, by prefix (hybrid video, ControlNet, noise, colour, video...).
_KNOWN_PREFIXES = ("hybrid_", "cn_", "controlnet_", "perlin_", "color_", "video_", "frame_interpolation",
                   "skip_", "soundtrack", "parseq_", "loopback_", "seed_", "subseed", "enable_", "guided_",
                   "antiblur_", "deforum_", "sd_", "r_upscale", "ncnn_", "upscale", "mask_", "noise_")


def _is_known(key: str) -> bool:
    return key in _MAPPED or key in _KNOWN_EXACT or key.startswith(_KNOWN_PREFIXES)


# ---- reading ------------------------------------------------------------------------------------


@dataclass
class _Settings:
    path: Path
    text: str
    data: dict[str, Any]

    def line(self, key: str, inside: str | None = None) -> int | None:
        """The line of ``"key":`` (within the object of ``inside`` when given): for messages."""
        start = 0
        if inside is not None:
            found = re.search(r'"%s"\s*:' % re.escape(inside), self.text)
            start = found.end() if found else 0
        found = re.compile(r'"%s"\s*:' % re.escape(key)).search(self.text, start)
        return self.text.count("\n", 0, found.start()) + 1 if found else None

    def error(self, message: str, key: str | None = None, inside: str | None = None) -> DeforumImportError:
        line = self.line(key, inside) if key is not None else None
        field = f"{inside}[{key!r}]" if inside else key
        return DeforumImportError(message, file=str(self.path), line=line, field=field)


def read_settings(path: str | os.PathLike[str]) -> _Settings:
    """The settings file as a dict; DeforumImportError (file:line) when it is not Deforum's JSON."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DeforumImportError(f"{size / 1e6:.1f} MB is too big for a Deforum settings file "
                                     f"(limit {MAX_BYTES // 2**20} MB)", file=str(path))
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DeforumImportError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise DeforumImportError("is a folder, not a settings file", file=str(path)) from None
    except OSError as exc:
        raise DeforumImportError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DeforumImportError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); Deforum writes its "
                                 "settings as UTF-8 JSON", file=str(path), line=line) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeforumImportError(f"not JSON: {exc.msg} (column {exc.colno}); Deforum saves its settings as "
                                 "JSON (the *_settings.txt file)", file=str(path), line=exc.lineno) from None
    except RecursionError:
        raise DeforumImportError("not a Deforum settings file: nested too deeply", file=str(path)) from None
    if not isinstance(data, dict):
        raise DeforumImportError(f"not a Deforum settings file: the JSON is a {type(data).__name__}, not an "
                                 "object of settings", file=str(path), line=1)
    settings = _Settings(path, text, data)
    if not any(key in data for key in ("animation_prompts", "prompts", "zoom", "animation_mode", "max_frames")):
        raise settings.error("not a Deforum settings file: none of animation_prompts, prompts, zoom, "
                             "animation_mode or max_frames is in it")
    return settings


# ---- converting ---------------------------------------------------------------------------------


@dataclass
class _Out:
    """The setlist as YAML lines, with the map from vj fields to Deforum keys (for messages)."""

    lines: list[str] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)   # "songs[0].camera.zoom" -> "zoom"
    notes: list[str] = field(default_factory=list)         # "# key: value  (why)" lines

    def add(self, line: str) -> None:
        self.lines.append(line)


def _q(value: Any) -> str:
    """A YAML scalar: JSON's double-quoted string is a YAML double-quoted string."""
    return json.dumps(value, ensure_ascii=False)


def _short(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _schedule_text(settings: _Settings, key: str) -> str | None:
    value = settings.data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise settings.error(f"a schedule is a string like \"0: (1.0)\" or a number, got {_short(value)}", key)
    if isinstance(value, float) and not math.isfinite(value):
        raise settings.error("not a finite number", key)
    return value if isinstance(value, str) else f"0: ({value:g})"


def _rewrite_values(settings: _Settings, key: str, text: str, fn_number, fn_text: str) -> str:
    """``text`` with each keyframe value v replaced: numbers by ``fn_number(v)``, anything else by
    ``fn_text.format(v)`` (keys kept as written)."""
    from vj.setlist.schedule import KeyTiming, ScheduleError, parse_schedule
    from vj.setlist.expressions import Expression, ExpressionError

    try:
        timing = KeyTiming(fps=_fps(settings), seconds_per_beat=0.5, max_frames=_max_frames(settings))
        schedule = parse_schedule(text, timing)
    except (ScheduleError, ExpressionError) as exc:
        raise settings.error(str(exc), key) from None
    parts = []
    for k in schedule.keyframes:
        if isinstance(k.value, Expression):
            value = fn_text.format(k.value.text.strip())
        else:
            value = f"{fn_number(k.value):.10g}"
        parts.append(f"{k.key}:({value})")
    return ", ".join(parts)


def _fps(settings: _Settings) -> float:
    fps = settings.data.get("fps", 15)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 240:
        raise settings.error(f"fps must be a number above 0 and at most 240, got {_short(fps)}", "fps")
    return float(fps)


def _max_frames(settings: _Settings) -> int:
    frames = settings.data.get("max_frames", 120)
    if isinstance(frames, bool) or not isinstance(frames, (int, float)) or frames < 1 or frames != int(frames):
        raise settings.error(f"max_frames must be a whole number of frames, at least 1, got {_short(frames)}",
                             "max_frames")
    return int(frames)


def _prompts(settings: _Settings) -> tuple[str, dict[str, Any]]:
    for key in ("animation_prompts", "prompts"):
        if key in settings.data:
            prompts = settings.data[key]
            if isinstance(prompts, str):  # the notebook and old UIs keep it as a JSON string
                try:
                    prompts = json.loads(prompts)
                except json.JSONDecodeError as exc:
                    raise settings.error(f"{key} is a string that is not JSON: {exc.msg}", key) from None
            if not isinstance(prompts, dict) or not prompts:
                raise settings.error(f"{key} must be an object of prompts keyed by frame, e.g. "
                                     '{"0": "a forest", "30": "a city"}', key)
            return key, prompts
    raise settings.error("no animation_prompts (or prompts) in the file")


def _prompt_frame(settings: _Settings, where: str, key: str, max_frames: int) -> int:
    """A prompt's frame: a whole number, or an expression of max_f as Deforum allows."""
    text = key.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    from vj.setlist.expressions import ExpressionError, compile_expression

    try:
        expression = compile_expression(text)
        if not expression.names <= {"max_f"}:
            raise ExpressionError("reads more than max_f", text)
        return int(expression.evaluate({"max_f": float(max_frames - 1)}))
    except ExpressionError:
        raise settings.error(f"a prompt's key must be a frame number (or an expression of max_f, like "
                             f"\"max_f/2\"), got {key!r}", key, inside=where) from None


def _split_negative(text: str) -> tuple[str, str]:
    """Deforum's ``positive --neg negative``."""
    if "--neg" in text:
        positive, _, negative = text.partition("--neg")
        return positive.strip(" ,"), negative.strip(" ,")
    return text.strip(), ""


_SAMPLERS = {"euler": "euler", "euler a": "euler", "euler_ancestral": "euler", "euler_a": "euler",
             "klms": None, "lcm": "lcm"}
_BORDERS_2D = {"replicate": "clamp", "wrap": "wrap"}
_BORDERS_3D = {"border": "clamp", "reflection": "reflect", "zeros": "noise"}


def convert(settings: _Settings, *, keep_unknown: bool = False, audio: str | None = None
            ) -> tuple[str, dict[str, str]]:
    """The setlist YAML text for ``settings`` and the map from its fields (``songs[0].camera.zoom``)
    to the Deforum settings they came from. Raises DeforumImportError on bad input."""
    data = settings.data
    for key in data:
        if not _is_known(key):
            if not keep_unknown:
                raise settings.error("not a Deforum setting vj knows (a typo, or another tool's file?); "
                                     "--keep-unknown writes it as a comment", key)
    fps = _fps(settings)
    max_frames = _max_frames(settings)
    out = _Out()
    name = str(data.get("batch_name") or settings.path.stem).replace("{timestring}", "").strip(" _-") or "deforum"
    out.add(f"# Imported from the Deforum settings {settings.path.name} by `vj import deforum`.")
    out.add("# Schedules are Deforum's own strings; vj evaluates them as Deforum does (docs/setlist.md).")
    out.add(f"# Deforum rendered {max_frames} frames at {fps:g} fps ({max_frames / fps:.2f} s); in vj the song's")
    out.add("# audio sets the length (max_f), so frame keys land where they did when fps is the same.")
    out.add(f"title: {_q(name)}")
    width, height = (_size(settings, k) for k in ("W", "H"))
    out.add("output:")
    out.add(f"  width: {width}")
    out.add(f"  height: {height}")
    out.add(f"  fps: {fps:g}")
    seed = data.get("seed", -1)
    if isinstance(seed, bool) or not isinstance(seed, (int, float)) or seed != int(seed):
        raise settings.error(f"seed must be a whole number, got {_short(seed)}", "seed")
    if seed < 0 or seed >= 2**32:
        out.add(f"seed: 0  # Deforum's seed {int(seed)} ({'random' if seed == -1 else 'out of range'}): pick one")
    else:
        out.add(f"seed: {int(seed)}")
    sampler = data.get("sampler")
    steps = data.get("steps")
    if sampler is not None:
        mapped = _SAMPLERS.get(str(sampler).strip().lower())
        if mapped:
            out.add("model_settings:")
            out.add(f"  sampler: {mapped}  # Deforum's sampler {_q(sampler)}")
        else:
            out.notes.append(f"# sampler: {_short(sampler)}  (vj's samplers are euler and lcm; the model's own "
                             "is used)")

    # styles: one per distinct negative prompt
    where, prompts = _prompts(settings)
    positive_all = str(data.get("animation_prompts_positive") or "").strip()
    negative_all = str(data.get("animation_prompts_negative") or "").strip()
    cues: list[tuple[int, str, str]] = []   # (frame, positive, negative)
    for key, value in prompts.items():
        frame = _prompt_frame(settings, where, str(key), max_frames)
        if not isinstance(value, str) or not value.strip():
            raise settings.error(f"a prompt must be text, got {_short(value)}", str(key), inside=where)
        positive, negative = _split_negative(value)
        if not positive:
            raise settings.error("the prompt is empty before --neg", str(key), inside=where)
        if frame < 0:
            raise settings.error(f"frame {frame} is before the start", str(key), inside=where)
        cues.append((frame, positive, ", ".join(n for n in (negative, negative_all) if n)))
    cues.sort(key=lambda c: c[0])  # Deforum: a dict keyed by frame; two keys on one frame: the later
    by_frame: dict[int, tuple[int, str, str]] = {}
    for cue in cues:
        by_frame[cue[0]] = cue
    cues = sorted(by_frame.values())
    negatives = list(dict.fromkeys(neg for _, _, neg in cues))
    style_names = {neg: ("deforum" if i == 0 else f"deforum-{i + 1}") for i, neg in enumerate(negatives)}

    mode_value = str(data.get("animation_mode", "2D"))
    mode = {"2d": "2d", "3d": "3d"}.get(mode_value.strip().lower())
    border_key = "padding_mode" if mode == "3d" else "border"
    unused_border = "border" if mode == "3d" else "padding_mode"
    if unused_border in data:
        out.notes.append(f"# {unused_border}: {_short(data[unused_border])}  (Deforum reads it in "
                         f"{'2D' if mode == '3d' else '3D'} only; this is {mode_value})")
    border_value = data.get(border_key)
    border = (_BORDERS_3D if mode == "3d" else _BORDERS_2D).get(str(border_value).lower()) if border_value else None
    coherence = data.get("color_coherence")
    coherence_value = None
    if coherence is not None:
        coherence_value = 1.0 if str(coherence).strip().upper() in ("LAB", "HSV", "RGB", "MATCH FRAME 0 LAB",
                                                                    "MATCH FRAME 0 HSV", "MATCH FRAME 0 RGB") else (
            0.0 if str(coherence).strip().lower() in ("none", "false", "") else None)

    out.add("styles:")
    for negative, style in style_names.items():
        out.add(f"  {style}:")
        if positive_all:
            out.add(f"    prefix: {_q(positive_all + ' ')}  # animation_prompts_positive")
        if negative:
            out.add(f"    negative: {_q(negative)}  # the prompts' --neg (and animation_prompts_negative)")
        strength = _schedule_text(settings, "strength_schedule")
        if strength is not None:
            rewritten = _rewrite_values(settings, "strength_schedule", strength, lambda v: 1.0 - v, "1-({})")
            out.add(f"    # strength_schedule {_q(strength)}: Deforum keeps that much of the previous frame,")
            out.add("    # vj's strength is how much is repainted: 1 - each value")
            out.add(f"    strength: {_q(rewritten)}")
            out.origin[f"styles.{style}.strength"] = "strength_schedule"
        noise = _schedule_text(settings, "noise_schedule")
        if noise is not None:
            out.add(f"    noise: {_q(noise)}  # noise_schedule")
            out.origin[f"styles.{style}.noise"] = "noise_schedule"
        contrast = _schedule_text(settings, "contrast_schedule")
        if contrast is not None:
            rewritten = _rewrite_values(settings, "contrast_schedule", contrast, lambda v: v - 1.0, "({})-1")
            out.add(f"    # contrast_schedule {_q(contrast)}: vj adds contrast_drift to a contrast of 1")
            out.add(f"    contrast_drift: {_q(rewritten)}")
            out.origin[f"styles.{style}.contrast_drift"] = "contrast_schedule"
        if steps is not None:
            if isinstance(steps, bool) or not isinstance(steps, (int, float)) or steps < 1:
                raise settings.error(f"steps must be a whole number of at least 1, got {_short(steps)}", "steps")
            kept = int(min(max(steps, 1), 4))
            note = "" if kept == steps else f"  # Deforum's {int(steps)} steps: vj's few-step models take 1-4"
            out.add(f"    steps: {kept}{note}")
        if border:
            out.add(f"    border: {border}  # {border_key} {_q(border_value)}")
        elif border_value is not None:
            out.notes.append(f"# {border_key}: {_short(border_value)}  (no vj border of that name)")
        if coherence_value is not None:
            out.add(f"    coherence: {coherence_value:g}  # color_coherence {_q(coherence)}: matched to the "
                    "cue's first frame")
        elif coherence is not None:
            out.notes.append(f"# color_coherence: {_short(coherence)}  (vj matches colours to the cue's first "
                             "frame or a palette only)")

    out.add("songs:")
    out.add(f"  - name: {_q(name)}")
    if audio:
        out.add(f"    audio: {_q(audio)}")
    else:
        out.add("    # audio: your-song.ogg   # vj needs the song to rehearse or play (and for max_f)")
    first_style = style_names[cues[0][2]] if cues and cues[0][0] == 0 else style_names[negatives[0]]
    out.add(f"    style: {first_style}")
    start = [c for c in cues if c[0] == 0]
    song_prompt = start[0][1] if start else cues[0][1]
    out.add(f"    prompt: {_q(song_prompt)}  # frame 0")
    out.add("    camera:")
    if mode is None:
        out.add(f"      mode: 2d  # Deforum's animation_mode {_q(mode_value)} has no vj equivalent: 2D motion")
    else:
        out.add(f"      mode: {mode}")
    camera_keys = [("zoom", "zoom"), ("angle", "angle"), ("translation_x", "translation_x"),
                   ("translation_y", "translation_y"), ("translation_z", "translation_z"),
                   ("rotation_3d_x", "rotation_3d_x"), ("rotation_3d_y", "rotation_3d_y"),
                   ("rotation_3d_z", "rotation_3d_z"), ("fov_schedule", "fov"), ("fov", "fov"),
                   ("near_schedule", "near"), ("near_plane", "near"), ("far_schedule", "far"), ("far_plane", "far")]
    written: set[str] = set()
    for deforum_key, vj_key in camera_keys:
        if vj_key in written:
            continue
        text = _schedule_text(settings, deforum_key)
        if text is None:
            continue
        written.add(vj_key)
        out.add(f"      {vj_key}: {_q(text)}" + (f"  # {deforum_key}" if deforum_key != vj_key else ""))
        out.origin[f"songs[0].camera.{vj_key}"] = deforum_key
    later = [c for c in cues if c[0] > 0] if start else cues[1:]
    if later:
        out.add("    cues:  # Deforum switches prompts hard at their frame: no transition")
        for frame, positive, negative in later:
            out.add(f"      - at: {frame / fps:.10g}  # frame {frame}")
            out.add(f"        prompt: {_q(positive)}")
            if style_names[negative] != first_style or len(style_names) > 1:
                out.add(f"        style: {style_names[negative]}")
            out.add("        transition: 0")

    # every other setting: a comment
    for key, value in data.items():
        if key in _MAPPED and key not in _WHY:
            continue
        if key in ("prompts", "animation_prompts") or key in ("fov", "near_plane", "far_plane"):
            continue
        why = _WHY.get(key) or ("not a Deforum setting vj knows" if not _is_known(key) else "no vj equivalent")
        out.notes.append(f"# {key}: {_short(value)}  ({why})")
    if out.notes:
        out.add("")
        out.add("# Deforum settings vj has no equivalent for (kept here for reference):")
        out.lines.extend(out.notes)
    return "\n".join(out.lines) + "\n", out.origin


def _size(settings: _Settings, key: str) -> int:
    value = settings.data.get(key, 512)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 64 <= value <= 4096:
        raise settings.error(f"{key} must be a size in pixels between 64 and 4096, got {_short(value)}", key)
    return int(value) // 8 * 8


def validate(text: str, settings: _Settings, folder: Path, origin: dict[str, str]) -> None:
    """Load the written setlist and compile every song's schedules (a Deforum string vj cannot
    read is reported at the Deforum setting)."""
    from vj.director.director import Director
    from vj.grid import BeatGrid
    from vj.setlist.models import load_setlist

    with tempfile.TemporaryDirectory(dir=folder) as temp:
        path = Path(temp) / "check.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            setlist = load_setlist(path)
            duration = _max_frames(settings) / _fps(settings)
            for song in setlist.songs:
                Director(setlist, song, BeatGrid(bpm=120.0, offset=0.0, beats_per_bar=4), setlist.output.fps,
                         duration=duration)
        except SetlistError as exc:
            field_name = exc.field or ""
            source = next((deforum for vj_field, deforum in origin.items() if field_name.startswith(vj_field)),
                          None)
            raise settings.error(f"{exc.message} (as vj's {field_name})", source) from None


def import_deforum(source: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
                   keep_unknown: bool = False, audio: str | None = None) -> tuple[Path, str]:
    """Convert ``source`` and write the setlist (default: beside it, ``<stem>.yaml``) atomically.
    Returns (the path written, the text). Nothing is written when anything is wrong."""
    settings = read_settings(source)
    out = Path(output) if output is not None else settings.path.with_suffix(".yaml")
    if out.resolve() == settings.path.resolve():
        raise VjError(f"-o {out}: that is the settings file itself; give another name")
    if out.exists() and out.is_dir():
        raise VjError(f"-o {out}: is a folder; give a file name ending in .yaml")
    text, origin = convert(settings, keep_unknown=keep_unknown, audio=audio)
    write_checked(out, text, lambda folder: validate(text, settings, folder, origin))
    return out, text
