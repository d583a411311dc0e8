#version 330 core
// 3D reprojection, mesh pass fragment: samples the previous frame where the mesh lands.
// In noise mode (NOISE_MODE defined, after the geometry shader) triangles stretched beyond the
// limit — a depth edge pulled open, i.e. a disocclusion — are dropped so the background pass's
// noise shows through for the diffusion step to paint.
uniform sampler2D u_source;
uniform vec2 u_source_size;

in vec2 v_uv;
#ifdef NOISE_MODE
flat in int v_stretched;
#endif
out vec4 fragColor;

void main() {
#ifdef NOISE_MODE
    if (v_stretched != 0) discard;
#endif
    vec2 half_texel = 0.5 / u_source_size;
    vec3 colour = texture(u_source, clamp(v_uv, half_texel, 1.0 - half_texel)).rgb;
    if (any(isnan(colour)) || any(isinf(colour))) colour = vec3(0.5);
    fragColor = vec4(clamp(colour, 0.0, 1.0), 1.0);
}
