#version 330 core
// 3D reprojection, noise mode only: measures how much each mesh triangle is stretched on screen
// (largest singular value of its source-pixel -> target-pixel map) so the fragment shader can drop
// disocclusions. Per triangle, from its projected corners: no screen-space derivative artefacts on
// the thin, steep triangles that sit along depth edges.
layout(triangles) in;
layout(triangle_strip, max_vertices = 3) out;

uniform vec2 u_source_size;
uniform vec2 u_target_size;
uniform float u_stretch_limit;

in vec2 g_uv[];
out vec2 v_uv;
flat out int v_stretched;

void main() {
    int stretched = 0;
    vec2 t[3];
    for (int i = 0; i < 3; ++i) {
        vec4 p = gl_in[i].gl_Position;
        if (p.w <= 1e-6) { stretched = 1; t[i] = vec2(0.0); }
        else t[i] = (p.xy / p.w * 0.5 + 0.5) * u_target_size;
    }
    if (stretched == 0) {
        mat2 s = mat2(g_uv[1] * u_source_size - g_uv[0] * u_source_size,
                      g_uv[2] * u_source_size - g_uv[0] * u_source_size);
        mat2 d = mat2(t[1] - t[0], t[2] - t[0]);
        float det_s = determinant(s);
        if (abs(det_s) < 1e-12) stretched = 1;
        else {
            mat2 a = d * inverse(s);   // target pixels per source pixel
            float t1 = dot(a[0], a[0]) + dot(a[1], a[1]);
            float det = determinant(a);
            float largest2 = 0.5 * (t1 + sqrt(max(t1 * t1 - 4.0 * det * det, 0.0)));
            if (largest2 > u_stretch_limit * u_stretch_limit) stretched = 1;
        }
    }
    for (int i = 0; i < 3; ++i) {
        gl_Position = gl_in[i].gl_Position;
        v_uv = g_uv[i];
        v_stretched = stretched;
        EmitVertex();
    }
    EndPrimitive();
}
