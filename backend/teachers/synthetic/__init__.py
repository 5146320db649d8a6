"""The synthetic world: procedural textured objects, their renderer, a ground-truth teacher, a prior sampler and a prompt grammar.

It lets every method run end-to-end, and be measured against the truth, on a machine without pretrained weights.
Besides the hand-designed families (:mod:`.families`), :mod:`.random_world` draws seeded families and objects that
nobody designed (``random:<seed>`` wherever a family name is accepted).
"""
