#version 330 core
// Camera warp: each destination pixel maps back through the inverse of the forward camera matrix
// to the source, sampled bilinearly with the border mode applied to each of the four taps
// (so reflect/wrap/clamp behave exactly like the numpy reference, also across the edges).
uniform sampler2D u_source;
uniform mat3 u_inverse;      // destination pixel -> source pixel, y down, pixel centres at +0.5
uniform int u_border;        // 0 reflect (mirror), 1 wrap (repeat), 2 clamp (edge)
uniform vec2 u_target_size;  // destination width, height in pixels

out vec4 fragColor;

// Floor modulo: GLSL leaves % undefined for negative operands.
int floor_mod(int index, int period) {
    return index - period * int(floor(float(index) / float(period)));
}

int border_index(int index, int size) {
    if (u_border == 0) {
        int period = floor_mod(index, 2 * size);
        return period < size ? period : 2 * size - 1 - period;
    }
    if (u_border == 1) {
        return floor_mod(index, size);
    }
    return clamp(index, 0, size - 1);
}

vec3 fetch(ivec2 size, int column, int row) {
    // Image rows count down from the top; GL texture rows count up from the bottom.
    ivec2 texel = ivec2(border_index(column, size.x), size.y - 1 - border_index(row, size.y));
    return texelFetch(u_source, texel, 0).rgb;
}

void main() {
    ivec2 size = textureSize(u_source, 0);
    vec3 destination = vec3(gl_FragCoord.x, u_target_size.y - gl_FragCoord.y, 1.0);
    vec3 source = u_inverse * destination;
    vec2 position = source.xy / source.z - 0.5;
    vec2 base = floor(position);
    vec2 weight = position - base;
    int x0 = int(base.x);
    int y0 = int(base.y);
    vec3 top = mix(fetch(size, x0, y0), fetch(size, x0 + 1, y0), weight.x);
    vec3 bottom = mix(fetch(size, x0, y0 + 1), fetch(size, x0 + 1, y0 + 1), weight.x);
    fragColor = vec4(mix(top, bottom, weight.y), 1.0);
}
