"""`bgmatte export`: the matting pipeline as one TorchScript graph for Nuke's Inference node.

``torchscript.export_torchscript`` / ``build_graph`` make the file; ``graph.MatteGraph`` is the graph;
it calls the stages' own torch functions; ``colour`` bakes the working-space matrices.
Nothing is imported here, so the CLI starts without torch.
"""
