#version 330 core
// Thumbnail: a box filter over the source texels under each target pixel (4×4 bilinear taps,
// so up to 8×8 texels each), for the control page's preview; clamped to 0..1 for an RGBA8 target.
uniform sampler2D u_source;
uniform vec2 u_target_size;

in vec2 v_uv;
out vec4 fragColor;

void main() {
    vec2 source = vec2(textureSize(u_source, 0));
    vec2 footprint = source / u_target_size;   // source texels under one target pixel
    vec3 sum = vec3(0.0);
    for (int j = 0; j < 4; j++) {
        for (int i = 0; i < 4; i++) {
            vec2 offset = ((vec2(i, j) + 0.5) / 4.0 - 0.5) * footprint / source;
            sum += texture(u_source, v_uv + offset).rgb;
        }
    }
    fragColor = vec4(clamp(sum / 16.0, 0.0, 1.0), 1.0);
}
