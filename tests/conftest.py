"""Suite-wide notes.

The show tests open GLFW (GLX) windows in the same process as the render tests' headless EGL
contexts. moderngl's release leaves an EGL context current on its thread, and Mesa's GLX then
answers a later ``glXMakeCurrent`` there with BadAccess (Xlib's default handler ends the process
with status 1 and no report). ``vj.render.gl.release_egl_thread`` (called by ``OutputWindow``
before it opens, and by ``release_context``) fixes that at its root, so the suite runs in its
natural order; tests/show/test_live_loop.py (headless EGL) runs before test_preview.py (GLFW).
"""
