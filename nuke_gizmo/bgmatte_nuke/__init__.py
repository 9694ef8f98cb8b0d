"""bgmatte's Nuke adapter: the Background Matte node's Python. It holds no matting logic.

Modules: ``node`` (create, on_create, analyse: what the gizmo's knobs call), ``settings`` (knob
values), ``script_colour`` (the script's working space), ``cache`` (the cache folder's layout),
``inputs`` (rendering the node's inputs to EXR), ``runner`` (the core, in Nuke's Python or as a
`bgmatte matte --progress json` subprocess), ``render_check`` (renders with missing mattes stop),
``stale`` (the label says when inputs or settings changed since Analyse), ``analyse_script``
(`nuke -t` entry point), ``errors`` (NodeError, shown to the artist), ``cattery`` (CatFileCreator
settings for the Inference route's .cat; runs without Nuke too).
"""
