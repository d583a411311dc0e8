#version 330 core
// 3D reprojection, background pass (drawn first, under the mesh): every target pixel's ray is met
// with a plane at u_distance in the previous camera, and the previous frame is sampled there with
// the border mode applied. Fills what the moved camera sees beyond the previous frame's edges;
// for a flat-plane depth it is the exact reprojection. Noise mode fills everything with seeded noise.
uniform sampler2D u_source;
uniform mat3 u_rotation;       // later-from-earlier rotation (camera coords: x right, y down, z forward)
uniform vec3 u_translation;    // later-from-earlier translation
uniform vec2 u_tan;            // tan of half the horizontal and vertical fov
uniform float u_distance;      // depth of the background plane in the previous camera
uniform int u_border;          // 0 stretch (clamp), 1 reflect, 2 wrap, 3 noise
uniform int u_seed;
uniform vec2 u_target_size;
uniform vec2 u_source_size;
uniform int u_plane_only;      // 1: the depth is this plane, no mesh follows (noise only off-frame)

in vec2 v_uv;
out vec4 fragColor;

uint hash(uint x) {
    x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
    return x;
}

float wrap_coord(float c) {
    if (u_border == 1) return 1.0 - abs(1.0 - mod(c, 2.0));
    if (u_border == 2) return fract(c);
    return clamp(c, 0.0, 1.0);
}

vec3 noise(uint seed) {
    uvec2 p = uvec2(gl_FragCoord.xy);
    uint h = hash(p.x + hash(p.y + hash(seed)));
    return vec3(float(h & 1023u), float((h >> 10) & 1023u), float((h >> 20) & 1023u)) / 1023.0;
}

void main() {
    if (u_border == 3 && u_plane_only == 0) {
        fragColor = vec4(noise(uint(u_seed)), 1.0);
        return;
    }
    vec2 ndc = 2.0 * gl_FragCoord.xy / u_target_size - 1.0;     // y up
    vec3 direction = vec3(ndc.x * u_tan.x, -ndc.y * u_tan.y, 1.0);  // camera y down
    mat3 back = transpose(u_rotation);
    vec3 origin = -(back * u_translation);
    direction = back * direction;
    float u = gl_FragCoord.x / u_target_size.x;
    float v = 1.0 - gl_FragCoord.y / u_target_size.y;           // v runs down like camera y
    bool hit = false;
    if (direction.z > 1e-9) {
        float lambda = (u_distance - origin.z) / direction.z;
        if (lambda > 0.0) {
            vec3 point = origin + lambda * direction;
            u = (point.x / (u_distance * u_tan.x) + 1.0) * 0.5;
            v = (point.y / (u_distance * u_tan.y) + 1.0) * 0.5;
            hit = true;
        }
    }
    if (u_border == 3 && !(hit && u >= 0.0 && u <= 1.0 && v >= 0.0 && v <= 1.0)) {
        fragColor = vec4(noise(uint(u_seed)), 1.0);
        return;
    }
    vec2 half_texel = 0.5 / u_source_size;
    vec2 uv = clamp(vec2(wrap_coord(u), 1.0 - wrap_coord(v)), half_texel, 1.0 - half_texel);
    vec3 colour = texture(u_source, uv).rgb;
    if (any(isnan(colour)) || any(isinf(colour))) colour = vec3(0.5);
    fragColor = vec4(clamp(colour, 0.0, 1.0), 1.0);
}
