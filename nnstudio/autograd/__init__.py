"""The autograd graph: walk ``grad_fn`` into a layer-tagged graph, lay it out, render it (no Qt).

Modules: ``walk`` (trace_autograd, walk_grad_fn), ``project_trace`` (trace_project), ``layout``
(layered_layout), ``collapse`` (collapse_layers), ``crossings``, ``gradients``, ``appearance`` and
``render`` (to_dot, to_svg). See docs/autograd.md.
"""
