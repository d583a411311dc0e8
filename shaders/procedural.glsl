#version 330 core
// Procedural dream-feedback source: domain-warped fbm (after Inigo Quilez, "warp"), coloured
// by cosine palettes a + b*cos(2π(c*t + d)), mixed over the previous frame the camera already
// moved. Everything depends only on the uniforms: same inputs, same pixels.

uniform sampler2D u_previous;  // the previous frame, already moved by the camera
uniform vec2 u_size;           // target width, height in pixels
uniform float u_time;          // pattern clock: seconds × look.speed
uniform float u_strength;      // 0 keeps the previous frame, 1 paints all new
uniform float u_blend;         // conditioning crossfade: 0 = from, 1 = to
uniform mat4 u_palette_from;   // columns a, b, c, d (rgb)
uniform mat4 u_palette_to;
uniform vec4 u_seed_from;      // pattern domain offsets
uniform vec4 u_seed_to;
uniform vec4 u_audio;          // onset, low, high, beat pulse (all 0..1, reactivity applied)
uniform vec4 u_look;           // warp amount, fbm gain, pattern scale, palette hue (turns)
uniform vec4 u_look2;          // flow (px), feedback hue drift (radians/frame), sparkle, 0
// Infinite zoom: two copies of the pattern ride the camera (window pixel -> pattern coordinates),
// an octave apart, each fading out as it has zoomed by 2 and coming back as the coarser one.
uniform mat3 u_layer0;
uniform mat3 u_layer1;
uniform vec2 u_layer_weight;

out vec4 fragColor;

const float TAU = 6.28318530718;
// Octave step: rotate ~37° and scale ×2 so octaves do not line up into grid artefacts.
const mat2 OCTAVE = mat2(1.6, 1.2, -1.2, 1.6);

uint hash(uvec2 v) {
    // pcg2d (Jarzynski & Olano 2020), folded to one word.
    v = v * 1664525u + 1013904223u;
    v.x += v.y * 1664525u;
    v.y += v.x * 1664525u;
    v ^= v >> 16u;
    v.x += v.y * 1664525u;
    v.y += v.x * 1664525u;
    v ^= v >> 16u;
    return v.x ^ v.y;
}

vec2 gradient(ivec2 cell) {
    uint h = hash(uvec2(cell));
    return vec2(float(h & 0xffffu), float(h >> 16u)) * (2.0 / 65535.0) - 1.0;
}

// Gradient noise, quintic fade: about -0.7..0.7.
float noise(vec2 p) {
    vec2 cell = floor(p);
    ivec2 i = ivec2(cell);
    vec2 f = p - cell;
    vec2 u = f * f * f * (f * (f * 6.0 - 15.0) + 10.0);
    float a = dot(gradient(i), f);
    float b = dot(gradient(i + ivec2(1, 0)), f - vec2(1.0, 0.0));
    float c = dot(gradient(i + ivec2(0, 1)), f - vec2(0.0, 1.0));
    float d = dot(gradient(i + ivec2(1, 1)), f - vec2(1.0, 1.0));
    return mix(mix(a, b, u.x), mix(c, d, u.x), u.y);
}

float fbm(vec2 p, float gain, int octaves) {
    float sum = 0.0;
    float amplitude = 0.5;
    for (int octave = 0; octave < octaves; octave++) {
        sum += amplitude * noise(p);
        p = OCTAVE * p + vec2(13.7, -7.3);
        amplitude *= gain;
    }
    return sum;
}

vec3 palette(float t, mat4 p) {
    return p[0].rgb + p[1].rgb * cos(TAU * (p[2].rgb * t + p[3].rgb));
}

// The warped field: q warps r, r warps f (iq's f(p + 4 r(p + 4 q(p)))). The warping layers are
// smooth (4 octaves) so the forms flow; the last layer carries the fine detail.
vec3 field(vec2 p, vec4 seed, float warp, float gain, float t, out vec2 q, out vec2 r) {
    q = vec2(fbm(p + seed.xy + vec2(0.0, 0.1 * t), 0.5, 4),
             fbm(p + seed.zw + vec2(5.2, 1.3) - vec2(0.08 * t, 0.0), 0.5, 4));
    r = vec2(fbm(p + warp * q + vec2(1.7, 9.2) + 0.15 * t, 0.5, 4),
             fbm(p + warp * q + vec2(8.3, 2.8) - 0.126 * t, 0.5, 4));
    float f = fbm(p + warp * r + seed.yx, gain, 6);
    return vec3(f, length(q), r.x);
}

vec3 colourise(vec3 f, vec2 q, vec2 r, mat4 p, float hue) {
    float v = clamp(0.5 + 2.4 * f.x, 0.0, 1.0);          // the field, 0..1
    float tone = 0.8 * v + 0.4 * f.y + 0.15 * r.y + hue;
    vec3 colour = palette(tone, p);
    // A second hue along the inner warp r, deep shadow only in the tightest folds of q.
    colour = mix(colour, palette(tone + 0.3, p), smoothstep(0.25, 0.7, abs(r.x)) * 0.5);
    colour *= 1.0 - 0.6 * smoothstep(0.45, 0.8, f.y);
    // Silk: light the field as a height map (screen-space slope, scaled to be size-independent).
    vec2 slope = vec2(dFdx(v), dFdy(v)) * u_size.y * 0.004;
    vec3 normal = normalize(vec3(-slope, 1.0));
    float diffuse = clamp(dot(normal, normalize(vec3(-0.5, 0.6, 0.65))), 0.0, 1.0);
    float specular = pow(clamp(dot(normal, normalize(vec3(-0.2, 0.3, 1.0))), 0.0, 1.0), 24.0);
    float shade = 0.12 + 1.0 * pow(smoothstep(0.0, 0.95, v), 1.2);   // deep valleys make the colour glow
    colour = colour * shade * (0.6 + 0.55 * diffuse) + specular * 0.25 * smoothstep(0.3, 0.8, v);
    float luma = dot(colour, vec3(0.2126, 0.7152, 0.0722));
    return max(mix(vec3(luma), colour, 1.3), 0.0);   // a little extra saturation: no mud
}

vec3 hue_rotate(vec3 colour, float angle) {
    // Rotation about the grey diagonal: keeps brightness, turns the colour wheel.
    const vec3 k = vec3(0.57735027);
    float c = cos(angle);
    return colour * c + cross(k, colour) * sin(angle) + k * dot(k, colour) * (1.0 - c);
}

// The field over both zoom layers, mixed so the variance (contrast) stays the same.
vec3 layered(vec2 pixel, vec4 seed, float scale, float warp, float gain, float t, out vec2 q, out vec2 r) {
    vec2 q0, r0, q1, r1;
    vec2 p0 = (u_layer0 * vec3(pixel, 1.0)).xy * scale;
    vec2 p1 = (u_layer1 * vec3(pixel, 1.0)).xy * scale;
    vec3 f0 = field(p0, seed, warp, gain, t, q0, r0);
    vec3 f1 = field(p1, seed + vec4(31.7, -17.3, 11.1, 23.9), warp, gain, t, q1, r1);
    vec2 w = u_layer_weight / length(u_layer_weight);
    q = w.x * q0 + w.y * q1;
    r = w.x * r0 + w.y * r1;
    return w.x * f0 + w.y * f1;
}

void main() {
    float onset = u_audio.x, low = u_audio.y, high = u_audio.z, pulse = u_audio.w;
    float warp = 4.0 * u_look.x * (1.0 + 0.35 * low) + 1.2 * onset;
    float gain = clamp(u_look.y + 0.12 * high, 0.3, 0.7);
    float scale = u_look.z * (1.0 - 0.15 * low);
    vec2 uv = gl_FragCoord.xy / u_size;
    float t = u_time + 0.6 * onset;

    vec2 q, r;
    vec3 f = layered(gl_FragCoord.xy, u_seed_to, scale, warp, gain, t, q, r);
    vec3 fresh = colourise(f, q, r, u_palette_to, u_look.w);
    float ink = f.x;
    if (u_blend < 1.0) {
        vec2 q0, r0;
        vec3 f0 = layered(gl_FragCoord.xy, u_seed_from, scale, warp, gain, t, q0, r0);
        fresh = mix(colourise(f0, q0, r0, u_palette_from, u_look.w), fresh, u_blend);
        ink = mix(f0.x, ink, u_blend);
        r = mix(r0, r, u_blend);
    }

    // High band: sparkle on the ridges (in screen space: glints do not zoom).
    vec2 p = (uv - 0.5) * vec2(u_size.x / u_size.y, 1.0) * 3.0;
    float glint = pow(max(noise(p * 23.0 + vec2(3.1 * t, -2.3 * t)) * 1.6, 0.0), 6.0);
    fresh += glint * u_look2.z * (0.2 + high) * smoothstep(0.0, 0.3, ink) * vec3(1.0, 0.95, 0.9);
    // Beat pulse and onset flash brighten the new paint.
    fresh *= 1.0 + 0.25 * pulse + 0.45 * onset;

    // The previous frame flows along the field (curl of r) and slowly turns its hue.
    vec2 flow = vec2(r.y, -r.x) * u_look2.x / u_size;
    vec2 half_texel = 0.5 / vec2(textureSize(u_previous, 0));
    vec3 previous = texture(u_previous, clamp(uv + flow, half_texel, 1.0 - half_texel)).rgb;
    previous = hue_rotate(previous, u_look2.y);

    // The pattern rides the camera, so new paint lands on the moved old paint; strength says how
    // much, a little more on the field's ridges (old layers linger in the valleys as trails).
    float s = clamp(u_strength + 0.3 * onset * (1.0 - u_strength), 0.0, 1.0);
    float weight = clamp(s + 1.2 * s * (1.0 - s) * ink, 0.0, 1.0);
    previous *= 0.995;   // old paint fades a little: no build-up over thousands of frames
    fragColor = vec4(clamp(mix(previous, fresh, weight), 0.0, 1.0), 1.0);
}
