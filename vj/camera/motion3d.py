"""3D camera motion as Disco Diffusion / Deforum define it, as a pinhole camera the GL pass can draw.

Disco's ``do_3d_step`` (and Deforum's ``anim_frame_warp_3d``) turn the per-frame schedule values into::

    translate = (-translation_x, +translation_y, -translation_z) * TRANSLATION_SCALE   # 1/200
    R         = euler_angles_to_matrix(radians(rotation_3d_x, _y, _z), "XYZ")          # Rx @ Ry @ Rz
    new_cam   = FoVPerspectiveCameras(near, far, fov=fov, R=R, T=translate)             # x_new = x @ R + T

with the "world" being the previous frame's pixels at their (MiDaS) depth: x right, y down, z into
the picture (the image grid used directly as camera coordinates, i.e. OpenCV's camera frame). So in
column-vector form a point of the previous camera moves to ``p_new = Rᵀ p + T``: positive
``translation_x`` moves the camera right (content slides left), positive ``translation_y`` moves it
up (content slides down, as in 2D), positive ``translation_z`` flies forward (zoom in), positive
``rotation_3d_y`` turns right, ``rotation_3d_x`` tilts up and ``rotation_3d_z`` rolls the content
counter-clockwise (as the 2D ``angle``).

Units: Disco scales translations by 1/200 and maps MiDaS disparity to depths of roughly 0.5-2.6.
``vj`` folds that 1/200 into the depth instead: one world unit is one unit of the schedule value, so
Disco's depth 1.0 is 200 units here, a Disco ``translation_z: 10`` means 10 units per frame, and the
``near``/``far`` defaults (200 / 10000, Disco's) bound the depth of the scene. Unlike Disco — which
warps by the difference of two projections of unprojected-looking grid points — the reprojection
here is an exact pinhole model, so a flat plane at distance D with ``translation_z = t`` is a zoom of
exactly D / (D - t) per frame.

``Pose3D`` accumulates per-frame motions (live mode re-applies the motion made since a generator
frame at display rate); ``reference_reproject`` is the slow numpy reprojection the GL pass is tested
against; ``validate_camera3d`` / ``sanitize_motion`` keep bad numbers from ever reaching the screen.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from vj.frame_params import CameraMotion
from vj.setlist.depth_spec import DEFAULT_PLANE_DISTANCE

#: Per-frame rotations above this are rejected at validation and clamped at render time.
MAX_ROTATION_DEG_PER_FRAME = 45.0
#: Field of view limits (degrees) used when clamping at render time.
MIN_FOV, MAX_FOV = 1.0, 179.0
#: A triangle of the depth mesh stretched more than this (target pixels per source pixel, along its
#: worst axis) is a disocclusion: the "noise" border paints it over, the others stretch the texture.
DEFAULT_STRETCH_LIMIT = 4.0

#: Border modes for 3D: what fills pixels the moved camera sees that the previous frame lacks.
#: stretch = clamp to the edge pixel / stretch the texture over disocclusions (Disco "border"),
#: reflect = mirror (Disco "reflection"), wrap = repeat, noise = seeded RGB noise for diffusion to paint.
BORDER_MODES_3D = ("stretch", "reflect", "wrap", "noise")
_BORDER_ALIASES = {"clamp": "stretch", "border": "stretch", "replicate": "stretch", "edge": "stretch",
                   "reflection": "reflect", "mirror": "reflect", "repeat": "wrap", "zeros": "noise"}


def normalize_border(border: str) -> str:
    """The canonical 3D border name; the 2D names (reflect/wrap/clamp) are accepted as aliases."""
    name = str(border).strip().lower()
    name = _BORDER_ALIASES.get(name, name)
    if name not in BORDER_MODES_3D:
        raise ValueError(f"unknown 3D border mode '{border}'; use one of {', '.join(BORDER_MODES_3D)} "
                         f"(or the 2D names clamp/reflect/wrap)")
    return name


# --------------------------------------------------------------------------------------------------
# Validation


def validate_camera3d(fov: float, near: float, far: float, rotation_3d_x: float = 0.0,
                      rotation_3d_y: float = 0.0, rotation_3d_z: float = 0.0,
                      translation_x: float = 0.0, translation_y: float = 0.0,
                      translation_z: float = 0.0,
                      max_rotation: float = MAX_ROTATION_DEG_PER_FRAME) -> list[str]:
    """Problems with one set of 3D camera numbers, as messages for people (empty list = fine).

    For setlist validation: call it on each keyframe's values and report every message with the
    keyframe's location. Render time never raises; it uses ``sanitize_motion`` instead.
    """
    problems: list[str] = []
    named = {"fov": fov, "near": near, "far": far, "rotation_3d_x": rotation_3d_x,
             "rotation_3d_y": rotation_3d_y, "rotation_3d_z": rotation_3d_z,
             "translation_x": translation_x, "translation_y": translation_y,
             "translation_z": translation_z}
    for name, value in named.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(f"{name} must be a number, got {value!r}")
            continue
        if not math.isfinite(number):
            problems.append(f"{name} must be a finite number, got {value!r}")
    if problems:
        return problems
    if not 0.0 < fov < 180.0:
        problems.append(f"fov must be between 0 and 180 degrees (exclusive), got {fov:g}; "
                        f"Disco's default is 40")
    if near <= 0.0:
        problems.append(f"near must be positive (world units), got {near:g}; Disco's default is 200")
    if far <= near:
        problems.append(f"far ({far:g}) must be greater than near ({near:g}); Disco uses near 200, far 10000")
    for axis, value in (("x", rotation_3d_x), ("y", rotation_3d_y), ("z", rotation_3d_z)):
        if abs(value) > max_rotation:
            problems.append(f"rotation_3d_{axis} of {value:g} degrees per frame is too large "
                            f"(limit ±{max_rotation:g}); rotations are per frame, not totals")
    return problems


def check_camera3d(**values: float) -> None:
    """``validate_camera3d`` that raises one ``ValueError`` listing every problem."""
    problems = validate_camera3d(**values)
    if problems:
        raise ValueError("invalid 3D camera: " + "; ".join(problems))


def _finite(value: float, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def sanitize_motion(motion: CameraMotion, max_rotation: float = MAX_ROTATION_DEG_PER_FRAME) -> CameraMotion:
    """The motion with every 3D number made safe to render (render time never raises).

    Non-finite numbers become neutral, fov is clamped to [1, 179], near to > 0, far to > near,
    rotations to ±``max_rotation`` degrees per frame.
    """
    defaults = CameraMotion()
    fov = min(max(_finite(motion.fov, defaults.fov), MIN_FOV), MAX_FOV)
    near = _finite(motion.near, defaults.near)
    near = near if near > 0.0 else defaults.near
    far = _finite(motion.far, defaults.far)
    far = far if far > near * 1.001 else max(near * 2.0, defaults.far if defaults.far > near else near * 50.0)
    rot = [min(max(_finite(v, 0.0), -max_rotation), max_rotation)
           for v in (motion.rotation_3d_x, motion.rotation_3d_y, motion.rotation_3d_z)]
    return dataclasses.replace(
        motion, fov=fov, near=near, far=far,
        translation_x=_finite(motion.translation_x, 0.0), translation_y=_finite(motion.translation_y, 0.0),
        translation_z=_finite(motion.translation_z, 0.0),
        rotation_3d_x=rot[0], rotation_3d_y=rot[1], rotation_3d_z=rot[2])


def sanitize_depth(depth: np.ndarray, near: float, far: float,
                   fallback: float = DEFAULT_PLANE_DISTANCE) -> np.ndarray:
    """Depth made safe to draw: NaN/inf/≤0 become ``fallback``, then everything is clamped to [near, far].

    A model can return NaN or all zeros (a black frame, fp16 overflow); the frame on screen must not.
    """
    array = np.asarray(depth, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., 0]
    fallback = float(min(max(_finite(fallback, DEFAULT_PLANE_DISTANCE), near), far))
    bad = ~np.isfinite(array) | (array <= 0.0)
    if bad.any():
        array = np.where(bad, np.float32(fallback), array)
    return np.clip(array, near, far).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------------
# Camera maths


def euler_xyz(rx: float, ry: float, rz: float) -> np.ndarray:
    """PyTorch3D's ``euler_angles_to_matrix(angles, "XYZ")`` (radians): Rx @ Ry @ Rz."""
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]], dtype=np.float64)
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=np.float64)
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]], dtype=np.float64)
    return rot_x @ rot_y @ rot_z


def tan_half_fov(fov: float, width: int, height: int) -> tuple[float, float]:
    """(tan of half the horizontal fov, of half the vertical fov): ``fov`` is vertical (as
    PyTorch3D's ``FoVPerspectiveCameras``), the horizontal one follows the frame's aspect."""
    tan_y = math.tan(math.radians(fov) / 2.0)
    return tan_y * width / height, tan_y


def clip_from_camera(tan_x: float, tan_y: float, near: float, far: float) -> np.ndarray:
    """4×4 (column-vector) matrix from camera coordinates (x right, y down, z forward) to GL clip
    space (y up, depth −1 at ``near`` and +1 at ``far``)."""
    return np.array([
        [1.0 / tan_x, 0.0, 0.0, 0.0],
        [0.0, -1.0 / tan_y, 0.0, 0.0],
        [0.0, 0.0, (far + near) / (far - near), -2.0 * far * near / (far - near)],
        [0.0, 0.0, 1.0, 0.0],
    ], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Pose3D:
    """A rigid move from one camera to a later one: ``p_later = rotation @ p_earlier + translation``.

    Camera coordinates are x right, y down, z forward (the previous frame's pixels at their depth).
    Immutable, so a pose can travel with the frame it was made at: live mode keeps the pose of the
    last generator frame and shows it re-projected by ``display_pose.delta_since(frame_pose)``.
    """

    rotation: np.ndarray
    translation: np.ndarray

    @classmethod
    def identity(cls) -> "Pose3D":
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_motion(cls, motion: CameraMotion, frames: float = 1.0) -> "Pose3D":
        """One frame of ``motion`` (``frames`` scales it: a fraction for display-rate steps).

        Disco: ``x_new = x @ R + T`` with T = (−tx, ty, −tz), i.e. ``p_new = Rᵀ p + T``.
        """
        rotation = euler_xyz(math.radians(motion.rotation_3d_x * frames),
                             math.radians(motion.rotation_3d_y * frames),
                             math.radians(motion.rotation_3d_z * frames))
        translation = np.array([-motion.translation_x, motion.translation_y, -motion.translation_z],
                               dtype=np.float64) * frames
        return cls(rotation.T, translation)

    def then(self, later: "Pose3D") -> "Pose3D":
        """This move followed by ``later`` (expressed in the camera this one ends at)."""
        return Pose3D(later.rotation @ self.rotation, later.rotation @ self.translation + later.translation)

    def advance(self, motion: CameraMotion, frames: float = 1.0) -> "Pose3D":
        """The pose after ``frames`` more frames of ``motion``."""
        return self.then(Pose3D.from_motion(motion, frames))

    def inverse(self) -> "Pose3D":
        rotation = self.rotation.T
        return Pose3D(rotation, -rotation @ self.translation)

    def delta_since(self, other: "Pose3D") -> "Pose3D":
        """The move from the camera at pose ``other`` to this one (both measured from a common start)."""
        return other.inverse().then(self)

    def matrix(self) -> np.ndarray:
        """4×4 (column-vector) matrix of the move."""
        result = np.eye(4)
        result[:3, :3] = self.rotation
        result[:3, 3] = self.translation
        return result

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Move N×3 points from the earlier camera's coordinates into the later camera's."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation


def scaled_motion(motion: CameraMotion, frames: float) -> CameraMotion:
    """``frames`` setlist frames of ``motion`` as one step (zoom ** frames, every other move ×
    frames): what the generator's move covers when it made one frame while the display showed
    several (or a fraction of one)."""
    if frames == 1.0:
        return motion
    n = max(float(frames), 0.0)
    return dataclasses.replace(motion, zoom=motion.zoom ** n, angle=motion.angle * n,
                               translation_x=motion.translation_x * n, translation_y=motion.translation_y * n,
                               translation_z=motion.translation_z * n, rotation_3d_x=motion.rotation_3d_x * n,
                               rotation_3d_y=motion.rotation_3d_y * n, rotation_3d_z=motion.rotation_3d_z * n)


def plane_homography(motion: CameraMotion, width: int, height: int, frames: float = 1.0,
                     distance: float = DEFAULT_PLANE_DISTANCE) -> np.ndarray:
    """The forward 3×3 pixel matrix (y down, as ``vj.camera.motion2d.warp_matrix_2d``) of ``frames`` frames
    of 3D motion seen on a plane at ``distance``: ``K (R + t e_zᵀ / d) K⁻¹``.

    Exact for the plane depth provider, and the display-rate approximation for model depth: live
    mode re-applies the motion since a generator frame was made with the same warp pass as 2D."""
    motion = sanitize_motion(motion)
    pose = Pose3D.from_motion(motion, frames)
    tan_x, tan_y = tan_half_fov(motion.fov, width, height)
    camera_to_pixels = np.array([[width / (2.0 * tan_x), 0.0, width / 2.0],
                                 [0.0, height / (2.0 * tan_y), height / 2.0],
                                 [0.0, 0.0, 1.0]])
    plane = pose.rotation + np.outer(pose.translation, (0.0, 0.0, 1.0)) / float(distance)
    return camera_to_pixels @ plane @ np.linalg.inv(camera_to_pixels)


# --------------------------------------------------------------------------------------------------
# Numpy reference reprojection (tests; slow)


def _wrap_uv(coord: np.ndarray, border: str) -> np.ndarray:
    if border == "reflect":
        return 1.0 - np.abs(1.0 - np.mod(coord, 2.0))
    if border == "wrap":
        return np.mod(coord, 1.0)
    return np.clip(coord, 0.0, 1.0)


def _bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample an H×W(×C) image at normalised (u right, v down) coordinates, clamp-to-edge, texel
    centres at (i + 0.5) / size — what GL's LINEAR filter with CLAMP_TO_EDGE does."""
    height, width = image.shape[:2]
    x = np.clip(u * width - 0.5, 0.0, width - 1.0)
    y = np.clip(v * height - 0.5, 0.0, height - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), width - 1)
    y0 = np.minimum(np.floor(y).astype(np.int64), height - 1)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = x - x0, y - y0
    if image.ndim == 3:
        fx, fy = fx[..., None], fy[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def background_uv(width: int, height: int, pose: Pose3D, tan_x: float, tan_y: float,
                  distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each target pixel's ray meets a plane at ``distance`` in the previous camera, as
    previous-frame (u right, v down) coordinates, plus whether it met it in front of both cameras.

    This is what fills pixels the depth mesh does not cover (out of frame); the shader does the same.
    """
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    x_ndc = 2.0 * (xs + 0.5) / width - 1.0
    y_ndc = 2.0 * (ys + 0.5) / height - 1.0
    direction = np.stack([x_ndc * tan_x, y_ndc * tan_y, np.ones_like(x_ndc)], axis=-1)
    inverse = pose.inverse()
    origin = inverse.translation
    direction = direction @ inverse.rotation.T
    dz = direction[..., 2]
    safe = np.where(np.abs(dz) > 1e-9, dz, 1e-9)
    lam = (distance - origin[2]) / safe
    hit = (dz > 1e-9) & (lam > 0.0)
    point = origin + lam[..., None] * direction
    u = (point[..., 0] / (distance * tan_x) + 1.0) / 2.0
    v = (point[..., 1] / (distance * tan_y) + 1.0) / 2.0
    identity_u, identity_v = (xs + 0.5) / width, (ys + 0.5) / height
    return np.where(hit, u, identity_u), np.where(hit, v, identity_v), hit


def _resize_depth(depth: np.ndarray, width: int, height: int) -> np.ndarray:
    if depth.shape == (height, width):
        return depth
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return _bilinear(depth.astype(np.float64), (xs + 0.5) / width, (ys + 0.5) / height)


def reference_reproject(image: np.ndarray, depth: np.ndarray, motion: CameraMotion,
                        border: str = "stretch", *, pose: Pose3D | None = None,
                        supersample: int = 4, stretch_limit: float = DEFAULT_STRETCH_LIMIT,
                        background_depth: float | None = None, seed: int = 0,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Reproject ``image`` (H×W×3, row 0 at the top) seen at ``depth`` through one frame of
    ``motion`` (or ``pose``), in numpy: the reference the GL ``ReprojectPass`` is tested against.

    Forward splatting with a z-buffer: the frame is supersampled, every sample is moved to the new
    camera, and each target pixel takes the source coordinate of its nearest front-surface sample,
    corrected to the pixel centre by the local Jacobian, then samples the image bilinearly.
    Returns (image, valid): ``valid`` marks pixels seen by an unstretched part of the previous frame,
    away from its edges; the rest (disoccluded, out of frame) hold the border fill and are what a
    test excludes.
    """
    border = normalize_border(border)
    motion = sanitize_motion(motion)
    pose = pose if pose is not None else Pose3D.from_motion(motion)
    image = np.asarray(image, dtype=np.float64)
    height, width = image.shape[:2]
    near, far = motion.near, motion.far
    depth = _resize_depth(sanitize_depth(depth, near, far).astype(np.float64), width, height)
    tan_x, tan_y = tan_half_fov(motion.fov, width, height)
    s = int(supersample)

    # Supersampled source positions (u right, v down, 0..1), their depth, their 3D points.
    sw, sh = width * s, height * s
    us = (np.arange(sw) + 0.5) / sw
    vs = (np.arange(sh) + 0.5) / sh
    u, v = np.meshgrid(us, vs)
    z = _bilinear(depth, u, v)
    points = np.stack([(2 * u - 1) * tan_x * z, (2 * v - 1) * tan_y * z, z], axis=-1)
    moved = pose.apply(points.reshape(-1, 3)).reshape(sh, sw, 3)
    zn = moved[..., 2]
    in_front = zn > near * 0.05
    zsafe = np.where(in_front, zn, 1.0)
    px = (moved[..., 0] / (zsafe * tan_x) + 1.0) * 0.5 * width
    py = (moved[..., 1] / (zsafe * tan_y) + 1.0) * 0.5 * height

    # Jacobian of source pixel -> target pixel, by finite differences on the sample grid.
    def diff(a: np.ndarray, axis: int) -> np.ndarray:
        d = np.diff(a, axis=axis) * s
        return np.concatenate([d, d.take([-1], axis=axis)], axis=axis)

    a11, a21 = diff(px, 1), diff(py, 1)  # d target / d source-x
    a12, a22 = diff(px, 0), diff(py, 0)  # d target / d source-y
    # Largest singular value of the 2×2 Jacobian: the worst-axis stretch (target px per source px).
    t1 = a11 ** 2 + a21 ** 2 + a12 ** 2 + a22 ** 2
    det = a11 * a22 - a12 * a21
    sigma_max = np.sqrt(0.5 * (t1 + np.sqrt(np.maximum(t1 ** 2 - 4 * det ** 2, 0.0))))
    stretched = (sigma_max > stretch_limit) | ~in_front

    ix, iy = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    inside = in_front & (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    flat = np.where(inside, iy * width + ix, 0).ravel()
    inside_f = inside.ravel()
    zf = zn.ravel()

    zfront = np.full(width * height, np.inf)
    np.minimum.at(zfront, flat[inside_f], zf[inside_f])
    front = inside_f & (zf <= zfront[flat] * 1.02)
    # Nearest front sample to each pixel centre.
    dist = (px.ravel() - (ix.ravel() + 0.5)) ** 2 + (py.ravel() - (iy.ravel() + 0.5)) ** 2
    candidates = np.nonzero(front)[0]
    order = np.lexsort((dist[candidates], flat[candidates]))
    chosen = candidates[order]
    first = np.ones(len(chosen), dtype=bool)
    first[1:] = flat[chosen][1:] != flat[chosen][:-1]
    chosen = chosen[first]
    pixel = flat[chosen]

    # Correct the chosen sample's source coordinate to the pixel centre: du = J⁻¹ (centre − p).
    det_c = det.ravel()[chosen]
    det_c = np.where(np.abs(det_c) > 1e-12, det_c, 1e-12)
    ex = (ix.ravel()[chosen] + 0.5) - px.ravel()[chosen]
    ey = (iy.ravel()[chosen] + 0.5) - py.ravel()[chosen]
    dsx = (a22.ravel()[chosen] * ex - a12.ravel()[chosen] * ey) / det_c
    dsy = (-a21.ravel()[chosen] * ex + a11.ravel()[chosen] * ey) / det_c
    src_u = u.ravel()[chosen] + np.clip(dsx, -1, 1) / width
    src_v = v.ravel()[chosen] + np.clip(dsy, -1, 1) / height

    covered = np.zeros(width * height, dtype=bool)
    covered[pixel] = True
    good = np.zeros(width * height, dtype=bool)
    good[pixel] = ~stretched.ravel()[chosen]

    distance = background_depth if background_depth is not None else default_background_depth(depth)
    bu, bv, _ = background_uv(width, height, pose, tan_x, tan_y, distance)
    out_u, out_v = bu.ravel().copy(), bv.ravel().copy()
    out_u[pixel], out_v[pixel] = src_u, src_v
    result = _bilinear(image, _wrap_uv(out_u, border), _wrap_uv(out_v, border)).reshape(height, width, -1)

    if border == "noise":
        rng = np.random.default_rng(seed)
        noise = rng.random((height, width, image.shape[2]))
        result = np.where(good.reshape(height, width)[..., None], result, noise)

    valid = good.reshape(height, width)
    # Pixels next to anything invalid or the frame edge depend on rasterisation details: exclude.
    eroded = valid.copy()
    eroded[1:, :] &= valid[:-1, :]
    eroded[:-1, :] &= valid[1:, :]
    eroded[:, 1:] &= valid[:, :-1]
    eroded[:, :-1] &= valid[:, 1:]
    eroded[0, :] = eroded[-1, :] = False
    eroded[:, 0] = eroded[:, -1] = False
    return np.clip(result, 0.0, 1.0).astype(np.float32), eroded


def default_background_depth(depth: np.ndarray) -> float:
    """Depth of the plane that continues the picture out of frame: the median of its border pixels."""
    array = np.asarray(depth, dtype=np.float32)
    edge = np.concatenate([array[0, :], array[-1, :], array[:, 0], array[:, -1]])
    edge = edge[np.isfinite(edge) & (edge > 0)]
    return float(np.median(edge)) if edge.size else DEFAULT_PLANE_DISTANCE
