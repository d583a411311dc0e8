"""The 3D camera pass: the previous frame, displaced by its depth, redrawn from the moved camera.

Two draws into one target with a depth buffer:

1. background (``shaders/reproject_background.glsl``): each target ray meets a plane at the
   background depth in the previous camera; the previous frame is sampled there through the border
   mode. It fills what the camera now sees beyond the old frame's edges (stretch/reflect/wrap) or
   paints seeded noise (noise) for the diffusion step to fill in.
2. mesh (``shaders/reproject_mesh*.glsl``): a grid with one vertex per depth texel (plus the frame
   edges), displaced to its 3D point, moved by the camera pose and projected with the perspective
   matrix; the depth test keeps the nearest surface. Triangles pulled open across depth edges are
   disocclusions: stretched (stretch/reflect/wrap) or dropped to the noise underneath (noise).

Conventions and units are in ``vj.camera.motion3d``; ``vj.camera.motion3d.reference_reproject`` is the numpy
reference this pass is tested against. Per frame it uploads only the depth map (or reads an R32F
texture) and sets uniforms; meshes, targets and framebuffers are cached by size.
"""
from __future__ import annotations

from typing import Any

import moderngl
import numpy as np

from vj.camera.motion3d import (DEFAULT_PLANE_DISTANCE, DEFAULT_STRETCH_LIMIT, Pose3D, clip_from_camera,
                         default_background_depth, normalize_border, sanitize_depth, sanitize_motion,
                         tan_half_fov)
from vj.render.frame import Frame
from vj.frame_params import CameraMotion
from vj.render.gl import Program, RenderTarget, load_shader_source

_BORDER_CODES = {"stretch": 0, "reflect": 1, "wrap": 2, "noise": 3}
#: GL clip planes relative to the scene's near/far: points may come closer than ``near`` after the
#: move (flying forward) or drift beyond ``far`` (backing off) without being clipped away.
_GL_NEAR_FACTOR, _GL_FAR_FACTOR = 0.05, 4.0


def _matrix_bytes(matrix: np.ndarray) -> bytes:
    """A numpy (row-major) matrix as the column-major float32 bytes GLSL expects."""
    return np.ascontiguousarray(np.asarray(matrix).T, dtype=np.float32).tobytes()


def grid_mesh(columns: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (texture uv, t up) at every texel centre of a columns×rows grid plus the frame
    edges, and the triangle indices covering [0, 1]²: the depth mesh's topology."""
    us = np.concatenate([[0.0], (np.arange(columns) + 0.5) / columns, [1.0]]).astype(np.float32)
    ts = np.concatenate([[0.0], (np.arange(rows) + 0.5) / rows, [1.0]]).astype(np.float32)
    uu, tt = np.meshgrid(us, ts)
    vertices = np.stack([uu.ravel(), tt.ravel()], axis=1).astype(np.float32)
    width = len(us)
    r, c = np.mgrid[0:len(ts) - 1, 0:width - 1]
    i00 = (r * width + c).ravel()
    i01, i10, i11 = i00 + 1, i00 + width, i00 + width + 1
    indices = np.stack([i00, i01, i11, i00, i11, i10], axis=1).astype(np.uint32).ravel()
    return vertices, indices


class ReprojectPass:
    """Reprojects a frame through a 3D camera move using its depth (see module docstring).

    ``max_grid`` caps the mesh's vertices per side (a larger depth map is sampled bilinearly at the
    grid's points): 512 draws every texel of a 512×512 depth map; 256 is 4× fewer triangles (worth it
    on a software renderer). A flat depth map (the plane provider) needs no mesh at all: the
    background pass is the exact reprojection of a plane, so plane depth costs one fullscreen draw.
    """

    def __init__(self, ctx: moderngl.Context, *, max_grid: int = 512,
                 stretch_limit: float = DEFAULT_STRETCH_LIMIT) -> None:
        self.ctx = ctx
        self.max_grid = int(max_grid)
        self.stretch_limit = float(stretch_limit)
        self.background = Program(ctx, "reproject_background")
        # Two mesh programs: the plain one, and noise mode's with a geometry shader that flags
        # stretched (disoccluded) triangles, so the common modes pay nothing for the test.
        self._programs = {noise: self._compile_mesh(noise) for noise in (False, True)}
        # Samplers pin filtering and edge clamping whatever the bound textures were made with.
        self._sampler = ctx.sampler(filter=(moderngl.LINEAR, moderngl.LINEAR), repeat_x=False, repeat_y=False)
        self._mesh_size: tuple[int, int] | None = None
        self._mesh_buffers: list[moderngl.Buffer] = []
        self._vaos: dict[bool, moderngl.VertexArray] = {}
        self._depth_texture: moderngl.Texture | None = None
        self._depth_buffers: dict[tuple[int, int], moderngl.Renderbuffer] = {}
        self._framebuffers: dict[int, tuple[moderngl.Texture, moderngl.Framebuffer]] = {}
        self._outputs: list[RenderTarget] = []
        self._input: moderngl.Texture | None = None
        self._next_output = 0

    # ---------------------------------------------------------------------------------------------
    def _compile_mesh(self, noise: bool) -> moderngl.Program:
        def source(name: str) -> str:
            text = load_shader_source(name)
            if not noise:
                return text
            first, rest = text.split("\n", 1)  # defines go right after #version
            return f"{first}\n#define NOISE_MODE\n{rest}"

        try:
            program = self.ctx.program(
                vertex_shader=source("reproject_mesh.vert"), fragment_shader=source("reproject_mesh"),
                geometry_shader=load_shader_source("reproject_mesh.geom") if noise else None)
        except moderngl.Error as exc:
            raise RuntimeError(f"shader 'reproject_mesh' failed to compile: {exc}") from exc
        program["u_depth"].value = 0
        program["u_source"].value = 1
        return program

    def _mesh_for(self, columns: int, rows: int, noise: bool) -> moderngl.VertexArray:
        size = (max(1, min(columns, self.max_grid)), max(1, min(rows, self.max_grid)))
        if self._mesh_size != size:
            self._release_mesh()
            vertices, indices = grid_mesh(*size)
            self._mesh_buffers = [self.ctx.buffer(vertices.tobytes()), self.ctx.buffer(indices.tobytes())]
            self._mesh_size = size
        vao = self._vaos.get(noise)
        if vao is None:
            vbo, ibo = self._mesh_buffers
            vao = self._vaos[noise] = self.ctx.vertex_array(
                self._programs[noise], [(vbo, "2f", "in_uv")], index_buffer=ibo, index_element_size=4)
        return vao

    def _release_mesh(self) -> None:
        for vao in self._vaos.values():
            vao.release()
        self._vaos.clear()
        for buffer in self._mesh_buffers:
            buffer.release()
        self._mesh_buffers = []
        self._mesh_size = None

    def _upload_depth(self, depth: np.ndarray) -> moderngl.Texture:
        height, width = depth.shape
        texture = self._depth_texture
        if texture is None or texture.size != (width, height):
            if texture is not None:
                texture.release()
            texture = self._depth_texture = self.ctx.texture((width, height), 1, dtype="f4")
        texture.write(np.ascontiguousarray(depth[::-1], dtype=np.float32).tobytes())
        return texture

    def _framebuffer_for(self, texture: moderngl.Texture) -> moderngl.Framebuffer:
        cached = self._framebuffers.get(texture.glo)
        if cached is not None and cached[0] is texture:
            return cached[1]
        size = texture.size
        depth = self._depth_buffers.get(size)
        if depth is None:
            depth = self._depth_buffers[size] = self.ctx.depth_renderbuffer(size)
        framebuffer = self.ctx.framebuffer(color_attachments=[texture], depth_attachment=depth)
        self._framebuffers[texture.glo] = (texture, framebuffer)
        return framebuffer

    def _own_output(self, source: moderngl.Texture) -> RenderTarget:
        width, height = source.size
        if not self._outputs or self._outputs[0].size != (width, height):
            for target in self._outputs:
                target.release()
            self._outputs = [RenderTarget(self.ctx, width, height), RenderTarget(self.ctx, width, height)]
        target = self._outputs[self._next_output]
        if target.texture is source:  # never draw into the texture being read
            self._next_output ^= 1
            target = self._outputs[self._next_output]
        self._next_output ^= 1
        return target

    # ---------------------------------------------------------------------------------------------
    def apply(self, source: moderngl.Texture, depth: "np.ndarray | moderngl.Texture",
              motion: CameraMotion, border: str = "stretch",
              target: "RenderTarget | moderngl.Texture | moderngl.Framebuffer | None" = None, *,
              pose: Pose3D | None = None, seed: int = 0,
              background_depth: float | None = None) -> moderngl.Texture | None:
        """Draw ``source`` reprojected through one frame of ``motion`` into ``target``.

        ``depth``: H×W float32 world-unit depth of ``source`` (row 0 at the top, any resolution;
        sanitised here) or an R32F texture (bottom row first, sanitised in the shader).
        ``motion`` gives fov/near/far and, unless ``pose`` is given, the move (one frame of it).
        ``target``: a RenderTarget, a texture, a framebuffer (needs its own depth buffer, e.g. a
        window's) or None for one of two internal targets used alternately (so the result stays
        valid through the next call and may be fed back as ``source``). ``seed`` varies the noise.
        Returns the texture drawn into (None for a bare framebuffer).
        """
        motion = sanitize_motion(motion)
        mode = normalize_border(border)
        near, far = motion.near, motion.far
        if pose is None:
            pose = Pose3D.from_motion(motion)
        plane_only = False
        if isinstance(depth, moderngl.Texture):
            depth_texture: moderngl.Texture | None = depth
            distance = background_depth if background_depth is not None else DEFAULT_PLANE_DISTANCE
        else:
            clean = sanitize_depth(depth, near, far)
            low, high = float(clean.min()), float(clean.max())
            if high - low <= 1e-6 * high:
                # A flat plane (the plane provider): the background pass alone is exact; no mesh.
                plane_only, depth_texture, distance = True, None, high
            else:
                depth_texture = self._upload_depth(clean)
                distance = background_depth if background_depth is not None else default_background_depth(clean)
        distance = float(min(max(distance, near), far))

        if target is None:
            target = self._own_output(source)
        if isinstance(target, RenderTarget):
            texture: moderngl.Texture | None = target.texture
            framebuffer = self._framebuffer_for(target.texture)
        elif isinstance(target, moderngl.Texture):
            texture = target
            framebuffer = self._framebuffer_for(target)
        else:
            texture, framebuffer = None, target
        width, height = framebuffer.viewport[2], framebuffer.viewport[3]
        tan_x, tan_y = tan_half_fov(motion.fov, width, height)

        ctx = self.ctx
        framebuffer.use()
        framebuffer.clear(0.0, 0.0, 0.0, 1.0, depth=1.0)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)

        bg = self.background
        bg.write("u_rotation", _matrix_bytes(pose.rotation))
        bg.set("u_translation", tuple(float(x) for x in pose.translation))
        bg.set("u_tan", (tan_x, tan_y))
        bg.set("u_distance", distance)
        bg.set("u_border", _BORDER_CODES[mode])
        bg.set("u_seed", int(seed) & 0x7FFFFFFF)
        bg.set("u_target_size", (float(width), float(height)))
        bg.set("u_source_size", tuple(float(x) for x in source.size))
        bg.set("u_plane_only", 1 if plane_only else 0)
        bg.set("u_source", 2)
        source.use(location=2)
        self._sampler.use(location=2)
        bg.vertex_array.render(moderngl.TRIANGLES, vertices=3)
        self._sampler.clear(location=2)
        if depth_texture is None:
            return texture

        noise = mode == "noise"
        program = self._programs[noise]
        program["u_later_from_earlier"].write(_matrix_bytes(pose.matrix()))
        program["u_clip_from_camera"].write(_matrix_bytes(
            clip_from_camera(tan_x, tan_y, near * _GL_NEAR_FACTOR, far * _GL_FAR_FACTOR)))
        program["u_tan"].value = (tan_x, tan_y)
        program["u_depth_range"].value = (near, far, distance)
        for name, value in (("u_source_size", tuple(float(x) for x in source.size)),
                            ("u_target_size", (float(width), float(height))),
                            ("u_stretch_limit", self.stretch_limit)):
            if name in program:
                program[name].value = value
        depth_texture.use(location=0)
        source.use(location=1)
        self._sampler.use(location=0)
        self._sampler.use(location=1)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.depth_func = "<"
        self._mesh_for(*depth_texture.size, noise).render(moderngl.TRIANGLES)
        ctx.disable(moderngl.DEPTH_TEST)
        self._sampler.clear(location=0)
        self._sampler.clear(location=1)
        return texture

    def _source_texture(self, frame: Frame) -> moderngl.Texture:
        """The frame's own texture when it has one in this context, else an upload into one reused
        input texture (``Frame.to_texture`` would allocate a new texture per frame, never freed)."""
        own = getattr(frame, "_texture", None)
        if own is not None and own.ctx == self.ctx:
            return own
        if self._input is None or self._input.size != frame.size:
            if self._input is not None:
                self._input.release()
            self._input = self.ctx.texture(frame.size, 4, dtype="f4")
        rgba = np.ones((frame.height, frame.width, 4), dtype=np.float32)
        rgba[:, :, :3] = frame.to_array()[::-1]
        self._input.write(rgba.tobytes())
        return self._input

    def apply_frame(self, frame: Frame, depth: "np.ndarray | moderngl.Texture", motion: CameraMotion,
                    border: str = "stretch", **options: Any) -> Frame:
        """``apply`` for a ``Frame`` (its texture if it lives in this context, else uploaded into a
        reused texture); the result is a texture Frame in one of the pass's two internal targets,
        valid until the call after next — copy it (``to_array``) to keep it longer."""
        texture = self.apply(self._source_texture(frame), depth, motion, border, None, **options)
        assert texture is not None
        return Frame(texture=texture)

    def release(self) -> None:
        self._release_mesh()
        for _, framebuffer in self._framebuffers.values():
            framebuffer.release()
        self._framebuffers.clear()
        for buffer in self._depth_buffers.values():
            buffer.release()
        self._depth_buffers.clear()
        for target in self._outputs:
            target.release()
        self._outputs = []
        for texture in (self._depth_texture, self._input):
            if texture is not None:
                texture.release()
        self._depth_texture = self._input = None
        self._sampler.release()
        for program in self._programs.values():
            program.release()
        self.background.release()
