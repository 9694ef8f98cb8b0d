"""`bgmatte export`: the matting pipeline as one TorchScript graph for Nuke's Inference node.

``torchscript.export_torchscript`` / ``build_graph`` make the file; ``graph.MatteGraph`` is the graph;
the ``*_twin`` modules are TorchScript twins of the core's NumPy/OpenCV steps (each tested against
the core function it stands for); ``colour`` bakes the working-space matrices. Nothing is imported
here, so the CLI starts without torch.
"""
