#version 330 core
// Crossfade: mix(a, b, x). Textures of the target's size are read texel for texel; others are
// scaled with the linear filter (live mode shows generator frames on a window of another size).
uniform sampler2D u_a;
uniform sampler2D u_b;
uniform float u_mix;
uniform vec2 u_target_size;

in vec2 v_uv;
out vec4 fragColor;

vec3 sample_texture(sampler2D source) {
    if (textureSize(source, 0) == ivec2(u_target_size)) {
        return texelFetch(source, ivec2(gl_FragCoord.xy), 0).rgb;
    }
    return texture(source, v_uv).rgb;
}

void main() {
    fragColor = vec4(mix(sample_texture(u_a), sample_texture(u_b), u_mix), 1.0);
}
