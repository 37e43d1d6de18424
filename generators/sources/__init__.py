"""The built-in image sources, one module each: every module here registers itself with
`noisebench.register_source` on import, and the source registry imports them all by walking this folder."""
