#version 330 core
// Post: one affine colour matrix (contrast, saturation, hue, brightness composed on the CPU),
// then vignette and blackout. Neutral settings give back the input exactly.
uniform sampler2D u_source;
uniform mat4 u_colour;       // rgb1 -> rgb1
uniform float u_vignette;    // 0..1: how dark the corners get
uniform float u_visible;     // 0 = blackout, 1 = picture
uniform vec2 u_target_size;

in vec2 v_uv;
out vec4 fragColor;

vec3 source_colour() {
    ivec2 size = textureSize(u_source, 0);
    if (size == ivec2(u_target_size)) {
        return texelFetch(u_source, ivec2(gl_FragCoord.xy), 0).rgb;
    }
    return texture(u_source, v_uv).rgb;   // a different size: scale with the linear filter
}

void main() {
    vec3 colour = (u_colour * vec4(source_colour(), 1.0)).rgb;
    if (u_vignette > 0.0) {
        float radius = length(v_uv - 0.5) * 1.41421356;      // 0 at the centre, 1 in the corners
        colour *= 1.0 - u_vignette * smoothstep(0.35, 1.0, radius);
    }
    fragColor = vec4(clamp(colour * u_visible, 0.0, 1.0), 1.0);
}
