#version 330 core
// 3D reprojection, mesh pass: the previous frame as a grid mesh displaced by its depth, seen from
// the moved camera. Camera coordinates are x right, y down, z forward (Disco/Deforum's frame);
// textures are stored bottom row first, so texture t runs up while camera y runs down.
uniform sampler2D u_depth;        // R32F depth in world units, any resolution (sampled bilinearly)
uniform mat4 u_later_from_earlier; // the camera move (Pose3D.matrix())
uniform mat4 u_clip_from_camera;   // perspective projection (camera3d.clip_from_camera)
uniform vec2 u_tan;                // tan of half the horizontal and vertical fov
uniform vec3 u_depth_range;        // near, far, fallback (for non-finite or non-positive depth)

in vec2 in_uv;                     // grid vertex, in the previous frame's texture coordinates
#ifdef NOISE_MODE
out vec2 g_uv;  // to the geometry shader
#define v_uv g_uv
#else
out vec2 v_uv;
#endif

float safe_depth(float d) {
    // NaN fails every comparison; inf and <= 0 are replaced too: never a NaN vertex.
    if (!(d > 0.0) || isinf(d)) d = u_depth_range.z;
    return clamp(d, u_depth_range.x, u_depth_range.y);
}

void main() {
    float d = safe_depth(textureLod(u_depth, in_uv, 0.0).r);
    vec3 earlier = vec3((2.0 * in_uv.x - 1.0) * u_tan.x * d, (1.0 - 2.0 * in_uv.y) * u_tan.y * d, d);
    vec4 later = u_later_from_earlier * vec4(earlier, 1.0);
    gl_Position = u_clip_from_camera * later;
    v_uv = in_uv;
}
